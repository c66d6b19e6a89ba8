"""Collections: CRUD, ordering, idempotent items, and nothing of another user's."""

from __future__ import annotations

import uuid

from flask.testing import FlaskClient

from mediavault.services import Services
from tests.api_fixtures import ApiUser
from tests.test_media import _insert


def _create(api: FlaskClient, user: ApiUser, title: str = "Trip") -> str:
    response = api.post(
        "/api/collections", json={"title": title, "description": "d"}, headers=user.headers
    )
    assert response.status_code == 201, response.get_data(as_text=True)
    return str(response.get_json()["id"])


def test_crud_order_and_idempotent_items(
    collections_api: FlaskClient, media_api: FlaskClient, alice: ApiUser, services: Services
) -> None:
    collection = _create(collections_api, alice)
    first, second, third = _insert(services, alice, count=3, status="ready")
    for media_id in (second, first, third, second):  # second twice: no duplicate, keeps its place
        response = collections_api.put(
            f"/api/collections/{collection}/items/{media_id}", headers=alice.headers
        )
        assert response.status_code == 204
    body = collections_api.get(f"/api/collections/{collection}", headers=alice.headers).get_json()
    assert [item["id"] for item in body["items"]] == [second, first, third]
    assert body["item_count"] == 3
    assert body["items"][0]["status"] == "ready"

    for _ in range(2):
        removed = collections_api.delete(
            f"/api/collections/{collection}/items/{first}", headers=alice.headers
        )
        assert removed.status_code == 204
    patched = collections_api.patch(
        f"/api/collections/{collection}", json={"title": "Renamed"}, headers=alice.headers
    )
    assert patched.get_json()["title"] == "Renamed"
    assert [item["id"] for item in patched.get_json()["items"]] == [second, third]

    # Deleting a media takes it out of every collection; deleting a collection keeps its media.
    assert media_api.delete(f"/api/media/{third}", headers=alice.headers).status_code == 204
    body = collections_api.get(f"/api/collections/{collection}", headers=alice.headers).get_json()
    assert [item["id"] for item in body["items"]] == [second]
    assert (
        collections_api.delete(f"/api/collections/{collection}", headers=alice.headers).status_code
        == 204
    )
    assert (
        collections_api.get(f"/api/collections/{collection}", headers=alice.headers).status_code
        == 404
    )
    assert media_api.get(f"/api/media/{second}", headers=alice.headers).status_code == 200


def test_list_pages_and_cover(
    collections_api: FlaskClient, alice: ApiUser, services: Services
) -> None:
    made = [_create(collections_api, alice, f"c{n}") for n in range(5)]
    [media_id] = _insert(services, alice, status="ready", thumbnail_key="derived/x/thumb.jpg")
    collections_api.put(f"/api/collections/{made[0]}/items/{media_id}", headers=alice.headers)
    seen: list[str] = []
    cursor = None
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = collections_api.get(f"/api/collections{query}", headers=alice.headers).get_json()
        seen += [c["id"] for c in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(made))
    covered = collections_api.get(f"/api/collections/{made[0]}", headers=alice.headers).get_json()
    assert covered["cover"] is not None
    assert "thumb.jpg" in covered["cover"]


def test_validation(collections_api: FlaskClient, alice: ApiUser) -> None:
    for body in (
        {},
        {"title": ""},
        {"title": "x" * 201},
        {"title": "a\x00"},
        {"title": "t", "owner": "x"},
    ):
        response = collections_api.post("/api/collections", json=body, headers=alice.headers)
        assert response.status_code == 400, body
    assert collections_api.get("/api/collections").status_code == 401


def test_another_users_collections_are_404_everywhere(
    collections_api: FlaskClient, alice: ApiUser, bob: ApiUser, services: Services
) -> None:
    collection = _create(collections_api, alice)
    [alices_media] = _insert(services, alice, status="ready")
    [bobs_media] = _insert(services, bob, status="ready")
    share = collections_api.post(
        f"/api/collections/{collection}/shares", json={}, headers=alice.headers
    ).get_json()
    base = f"/api/collections/{collection}"
    routes = [
        ("GET", base, None), ("PATCH", base, {"title": "x"}), ("DELETE", base, None),
        ("PUT", f"{base}/items/{alices_media}", None),
        ("DELETE", f"{base}/items/{alices_media}", None),
        ("POST", f"{base}/shares", {}), ("GET", f"{base}/shares", None),
        ("DELETE", f"{base}/shares/{share['id']}", None),
    ]  # fmt: skip
    for method, path, body in routes:
        response = collections_api.open(path, method=method, json=body, headers=bob.headers)
        assert response.status_code == 404, (method, path)
    assert collections_api.get("/api/collections", headers=bob.headers).get_json()["items"] == []
    # B cannot put A's media into B's own collection either.
    bobs = _create(collections_api, bob)
    stolen = collections_api.put(
        f"/api/collections/{bobs}/items/{alices_media}", headers=bob.headers
    )
    assert stolen.status_code == 404
    own = collections_api.put(f"/api/collections/{bobs}/items/{bobs_media}", headers=bob.headers)
    assert own.status_code == 204
    missing = collections_api.put(
        f"/api/collections/{bobs}/items/{uuid.uuid4()}", headers=bob.headers
    )
    assert missing.status_code == 404
