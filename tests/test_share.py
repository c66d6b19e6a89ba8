"""Share links: public views, revocation, expiry, downloads, passwords, and what never leaks."""

from __future__ import annotations

import base64
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
from flask.testing import FlaskClient

from mediavault.services import Services
from mediavault.tokens import hash_token
from tests.api_fixtures import ApiUser
from tests.conftest import Plant
from tests.test_media import _insert


def _shared(
    collections_api: FlaskClient,
    user: ApiUser,
    services: Services,
    plant: Plant,
    **options: Any,
) -> tuple[str, dict[str, Any], list[str]]:
    """A collection holding one ready video (real objects in MinIO) and a link to it."""
    collection = collections_api.post(
        "/api/collections", json={"title": "Holiday", "description": "Sun"}, headers=user.headers
    ).get_json()["id"]
    media_id = _insert(services, user, status="ready", title="Beach")[0]
    keys = {
        "original_key": f"originals/{media_id}.mp4",
        "playback_key": f"derived/{media_id}/hevc.mp4",
        "thumbnail_key": f"derived/{media_id}/thumb.jpg",
    }
    for column, key in keys.items():
        plant(key, column.encode())
    with services.pool.connection() as conn:
        conn.execute(  # the worker found no place in the original: links hand it out as it is
            "UPDATE media SET original_key = %(original_key)s, playback_key = %(playback_key)s,"
            " thumbnail_key = %(thumbnail_key)s, shared_original_key = %(original_key)s"
            " WHERE id = %(id)s",
            {**keys, "id": media_id},
        )
    collections_api.put(f"/api/collections/{collection}/items/{media_id}", headers=user.headers)
    response = collections_api.post(
        f"/api/collections/{collection}/shares", json=options, headers=user.headers
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return collection, response.get_json(), [media_id]


def test_a_link_works_without_auth_and_its_urls_download(
    collections_api: FlaskClient,
    share_api: FlaskClient,
    alice: ApiUser,
    services: Services,
    plant: Plant,
) -> None:
    _, share, [media_id] = _shared(collections_api, alice, services, plant)
    assert share["url"].endswith(f"/s/{share['token']}")
    assert len(share["token"]) >= 43  # 256 bits of randomness, URL-safe
    response = share_api.get(f"/api/share/{share['token']}")
    assert response.status_code == 200
    view = response.get_json()
    [item] = view["items"]
    cover = f"{services.settings.api_base_url}/s/{share['token']}/m/{media_id}/thumbnail"
    assert view["collection"] == {"title": "Holiday", "description": "Sun", "cover": cover}
    assert item["id"] == media_id
    assert item["urls"]["original"] is None  # no download unless allowed
    # Every URL is the share function's own: no owner id, no object key anywhere in the view.
    text = json.dumps(view)
    assert alice.id not in text
    for prefix in ("originals/", "derived/", "uploads/", "X-Amz-"):
        assert prefix not in text
    base = f"{services.settings.api_base_url}/s/{share['token']}/m/{media_id}/"
    assert item["urls"] == {"playback": base + "playback", "thumbnail": base + "thumbnail",
                            "original": None}  # fmt: skip
    assert item["sources"][0] == {"url": base + "playback", "type": 'video/mp4; codecs="hvc1"'}
    # Followed, they sign a short-lived storage URL on the public endpoint, and redirect there.
    public = services.storage.settings.public_url
    for kind, content in (("playback", b"playback_key"), ("thumbnail", b"thumbnail_key")):
        redirect = share_api.get(item["urls"][kind].removeprefix(services.settings.api_base_url))
        assert redirect.status_code == 302
        assert redirect.headers["Location"].startswith(public)
        assert httpx.get(redirect.headers["Location"]).content == content
    assert (
        share_api.get(base.removeprefix(services.settings.api_base_url) + "download").status_code
        == 404
    )
    with services.pool.connection() as conn:
        stored = conn.execute(
            "SELECT token_hash, view_count FROM share_links WHERE id = %s", (share["id"],)
        ).fetchone()
    assert stored is not None
    assert bytes(stored["token_hash"]) == hash_token(share["token"])
    assert stored["view_count"] == 1


def test_allow_download_gives_the_original(
    collections_api: FlaskClient,
    share_api: FlaskClient,
    alice: ApiUser,
    services: Services,
    plant: Plant,
) -> None:
    _, share, _ = _shared(collections_api, alice, services, plant, allow_download=True)
    [item] = share_api.get(f"/api/share/{share['token']}").get_json()["items"]
    api = services.settings.api_base_url
    redirect = share_api.get(item["urls"]["original"].removeprefix(api))
    download = httpx.get(redirect.headers["Location"])
    assert download.content == b"original_key"
    assert download.headers["content-disposition"].startswith("attachment;")


def test_revoked_expired_and_unknown_links_look_the_same(
    collections_api: FlaskClient,
    share_api: FlaskClient,
    alice: ApiUser,
    services: Services,
    plant: Plant,
) -> None:
    collection, share, [media_id] = _shared(collections_api, alice, services, plant)
    _, expiring, _ = _shared(collections_api, alice, services, plant, expires_in_seconds=3600)
    assert share_api.get(f"/api/share/{expiring['token']}").status_code == 200
    thumbnail = f"/s/{share['token']}/m/{media_id}/thumbnail"
    assert share_api.get(thumbnail).status_code == 302
    revoke = collections_api.delete(
        f"/api/collections/{collection}/shares/{share['id']}", headers=alice.headers
    )
    assert revoke.status_code == 204
    with services.pool.connection() as conn:
        conn.execute(
            "UPDATE share_links SET expires_at = now() - interval '1 second' WHERE id = %s",
            (expiring["id"],),
        )
    assert share_api.get(thumbnail).status_code == 404  # the media URLs stop at once too
    bodies = []
    for token in (share["token"], expiring["token"], "mvsh_" + "A" * 43, "garbage"):
        response = share_api.get(f"/api/share/{token}")
        assert response.status_code == 404
        bodies.append(response.get_json())
    assert all(body == bodies[0] for body in bodies)
    listed = collections_api.get(
        f"/api/collections/{collection}/shares", headers=alice.headers
    ).get_json()
    [row] = listed["items"]
    assert row["revoked"] is True
    assert "token" not in row
    assert set(row) == {
        "id",
        "expires_at",
        "allow_download",
        "include_location",
        "has_password",
        "revoked",
        "view_count",
        "created_at",
    }


def test_password_flow_and_rate_limit(
    collections_api: FlaskClient,
    share_api: FlaskClient,
    alice: ApiUser,
    services: Services,
    plant: Plant,
) -> None:
    _, share, _ = _shared(collections_api, alice, services, plant, password="open sesame")
    with services.pool.connection() as conn:
        stored = conn.execute(
            "SELECT password_hash FROM share_links WHERE id = %s", (share["id"],)
        ).fetchone()
    assert stored is not None
    assert stored["password_hash"].startswith("scrypt$")
    assert "open sesame" not in stored["password_hash"]

    locked = share_api.get(f"/api/share/{share['token']}")
    assert locked.status_code == 401
    assert locked.get_json()["error"]["code"] == "password_required"
    wrong = share_api.post(f"/api/share/{share['token']}/unlock", json={"password": "nope"})
    assert wrong.status_code == 401
    assert wrong.get_json()["error"]["code"] == "wrong_password"
    unlocked = share_api.post(
        f"/api/share/{share['token']}/unlock", json={"password": "open sesame"}
    )
    assert unlocked.status_code == 204
    cookies = unlocked.headers.getlist("Set-Cookie")
    assert any(f"Path=/api/share/{share['token']}" in c for c in cookies)
    assert share_api.get(f"/api/share/{share['token']}").status_code == 200  # the cookie is sent

    share_api.delete_cookie("mv_share", path=f"/api/share/{share['token']}")
    unlock = f"/api/share/{share['token']}/unlock"
    for _ in range(5):
        assert share_api.post(unlock, json={"password": "guess"}).status_code == 401
    # This client is stopped, even with the right password...
    limited = share_api.post(unlock, json={"password": "open sesame"})
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "too_many_attempts"
    # ...but the people the link was sent to are not locked out by the guesser.
    elsewhere = {"X-Forwarded-For": "203.0.113.7"}
    right = share_api.post(unlock, json={"password": "open sesame"}, headers=elsewhere)
    assert right.status_code == 204


def test_concurrent_guesses_are_counted_one_by_one(
    collections_api: FlaskClient, share_api: FlaskClient, alice: ApiUser, services: Services,
    plant: Plant,
) -> None:  # fmt: skip
    _, share, _ = _shared(collections_api, alice, services, plant, password="secret")
    app = share_api.application
    unlock = f"/api/share/{share['token']}/unlock"

    def guess(_: int) -> int:
        return app.test_client().post(unlock, json={"password": "wrong"}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(guess, range(24)))
    assert statuses.count(401) == 5  # exactly the allowance was checked, however concurrent
    assert statuses.count(429) == 19


def test_old_password_hashes_are_upgraded_on_unlock(
    collections_api: FlaskClient, share_api: FlaskClient, alice: ApiUser, services: Services,
    plant: Plant,
) -> None:  # fmt: skip
    _, share, _ = _shared(collections_api, alice, services, plant, password="x")
    salt = b"0123456789abcdef"
    old = hashlib.scrypt(b"legacy", salt=salt, n=2**14, r=8, p=1)
    legacy = f"scrypt$16384$8$1${base64.b64encode(salt).decode()}${base64.b64encode(old).decode()}"
    with services.pool.connection() as conn:
        conn.execute(
            "UPDATE share_links SET password_hash = %s WHERE id = %s", (legacy, share["id"])
        )
    unlock = f"/api/share/{share['token']}/unlock"
    assert share_api.post(unlock, json={"password": "legacy"}).status_code == 204
    with services.pool.connection() as conn:
        row = conn.execute(
            "SELECT password_hash FROM share_links WHERE id = %s", (share["id"],)
        ).fetchone()
    assert row is not None
    assert row["password_hash"].startswith("scrypt$32768$8$3$")
    share_api.delete_cookie("mv_share", path=f"/api/share/{share['token']}")
    assert share_api.post(unlock, json={"password": "legacy"}).status_code == 204


def test_share_options_are_validated(collections_api: FlaskClient, alice: ApiUser) -> None:
    collection = collections_api.post(
        "/api/collections", json={"title": "x"}, headers=alice.headers
    ).get_json()["id"]
    for body in (
        {"expires_in_seconds": 5},
        {"allow_download": "yes"},
        {"password": ""},
        {"token": "mine"},
    ):
        response = collections_api.post(
            f"/api/collections/{collection}/shares", json=body, headers=alice.headers
        )
        assert response.status_code == 400, body


def test_the_page_is_html_with_strict_headers(
    collections_api: FlaskClient,
    share_api: FlaskClient,
    alice: ApiUser,
    services: Services,
    plant: Plant,
) -> None:
    _, share, _ = _shared(collections_api, alice, services, plant)
    page = share_api.get(f"/s/{share['token']}")
    assert page.status_code == 200
    assert page.mimetype == "text/html"
    policy = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in policy
    assert "script-src" not in policy  # no scripts at all
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "noindex" in page.headers["X-Robots-Tag"]
    html = page.get_data(as_text=True)
    assert "<video" in html
    assert "name=robots content=noindex" in html
    missing = share_api.get("/s/mvsh_" + "B" * 43)
    assert missing.status_code == 404
    assert "Link not found" in missing.get_data(as_text=True)


def test_the_page_password_form(
    collections_api: FlaskClient,
    share_api: FlaskClient,
    alice: ApiUser,
    services: Services,
    plant: Plant,
) -> None:
    _, share, _ = _shared(collections_api, alice, services, plant, password="pw")
    form = share_api.get(f"/s/{share['token']}")
    assert form.status_code == 401
    assert "type=password" in form.get_data(as_text=True)
    wrong = share_api.post(f"/s/{share['token']}/unlock", data={"password": "x"})
    assert wrong.status_code == 401
    assert "wrong password" in wrong.get_data(as_text=True)
    right = share_api.post(f"/s/{share['token']}/unlock", data={"password": "pw"})
    assert right.status_code == 303
    assert right.headers["Location"] == f"/s/{share['token']}"
    assert share_api.get(f"/s/{share['token']}").status_code == 200
