"""The media function: pages, filters, edits, tags, deletion, and other users' media."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from flask.testing import FlaskClient
from psycopg import sql

from mediavault.services import Services
from mediavault.storage import derived_key, original_key
from tests.api_fixtures import ApiUser
from tests.conftest import Plant
from tests.harness import poll


def _insert(
    services: Services, owner: ApiUser, *, count: int = 1, same_time: bool = False, **fields: Any
) -> list[str]:
    """Media rows straight into the database (newest last), as uploads would leave them."""
    ids = []
    with services.pool.connection() as conn:
        for _ in range(count):
            media_id = str(fields.get("id") or uuid.uuid4())
            values = {
                "id": media_id, "owner_id": owner.id, "filename": "clip.mp4",
                "content_type": "video/mp4", "kind": "video", "size_bytes": 10,
                "upload_key": f"uploads/{media_id}",
                "original_key": f"originals/{media_id}.mp4", **fields,
            }  # fmt: skip
            if same_time:
                values["created_at"] = "2026-01-01T00:00:00Z"
            query = sql.SQL("INSERT INTO media ({}) VALUES ({})").format(
                sql.SQL(", ").join(map(sql.Identifier, values)),
                sql.SQL(", ").join(sql.Placeholder() * len(values)),
            )
            conn.execute(query, list(values.values()))
            ids.append(media_id)
    return ids


def _all_pages(api: FlaskClient, user: ApiUser, query: str = "", between: Any = None) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        url = f"/api/media?limit=7{query}" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(url, headers=user.headers).get_json()
        seen += [item["id"] for item in page["items"]]
        if between is not None:
            between()
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_pagination_returns_every_item_once_while_items_are_added(
    media_api: FlaskClient, alice: ApiUser, services: Services
) -> None:
    original = _insert(services, alice, count=20) + _insert(
        services, alice, count=10, same_time=True
    )
    added: list[str] = []
    seen = _all_pages(
        media_api, alice, between=lambda: added.extend(_insert(services, alice, count=2))
    )
    assert len(seen) == len(set(seen))
    assert set(original) <= set(seen)
    assert set(seen) <= set(original) | set(added)


def test_filters(media_api: FlaskClient, alice: ApiUser, services: Services) -> None:
    [ready] = _insert(services, alice, status="ready", title="Summer 100% fun")
    [image] = _insert(services, alice, kind="image", content_type="image/jpeg", filename="cat.jpg")
    [failed] = _insert(services, alice, status="failed", error="undecodable")

    def ids(query: str) -> set[str]:
        response = media_api.get(f"/api/media?{query}", headers=alice.headers)
        assert response.status_code == 200
        return {item["id"] for item in response.get_json()["items"]}

    assert ids("status=ready") == {ready}
    assert ids("status=failed") == {failed}
    assert ids("kind=image") == {image}
    assert ids("q=CAT") == {image}
    assert ids("q=100%25") == {ready}
    assert ids("q=%25") == {ready}  # a literal %, not a wildcard


def test_tags_are_per_user_case_insensitive_and_all_must_match(
    media_api: FlaskClient, alice: ApiUser, bob: ApiUser, services: Services
) -> None:
    first, second, third = _insert(services, alice, count=3)
    for media_id, tags in ((first, ["Holiday", "beach"]), (second, ["holiday"]), (third, [])):
        response = media_api.patch(
            f"/api/media/{media_id}", json={"tags": tags}, headers=alice.headers
        )
        assert response.status_code == 200
    assert media_api.get(f"/api/media/{second}", headers=alice.headers).get_json()["tags"] == [
        "Holiday"
    ]

    both = media_api.get("/api/media?tag=HOLIDAY&tag=beach", headers=alice.headers).get_json()
    assert [item["id"] for item in both["items"]] == [first]
    holiday = media_api.get("/api/media?tag=holiday", headers=alice.headers).get_json()
    assert {item["id"] for item in holiday["items"]} == {first, second}
    assert media_api.get("/api/media?tag=nope", headers=alice.headers).get_json()["items"] == []

    tags = media_api.get("/api/tags", headers=alice.headers).get_json()["items"]
    assert tags == [{"name": "beach", "count": 1}, {"name": "Holiday", "count": 2}]
    assert media_api.get("/api/tags", headers=bob.headers).get_json()["items"] == []

    media_api.patch(f"/api/media/{first}", json={"tags": ["holiday"]}, headers=alice.headers)
    tags = media_api.get("/api/tags", headers=alice.headers).get_json()["items"]
    assert tags == [{"name": "Holiday", "count": 2}]


def test_patch_title_and_validation(
    media_api: FlaskClient, alice: ApiUser, services: Services
) -> None:
    [media_id] = _insert(services, alice)
    response = media_api.patch(
        f"/api/media/{media_id}", json={"title": "  New title "}, headers=alice.headers
    )
    assert response.get_json()["title"] == "New title"
    for body in (
        {"title": 5},
        {"tags": "x"},
        {"tags": [""]},
        {"tags": ["x" * 65]},
        {"status": "ready"},
    ):
        bad = media_api.patch(f"/api/media/{media_id}", json=body, headers=alice.headers)
        assert bad.status_code == 400, body


def test_one_item_has_working_urls_and_processing_state(
    media_api: FlaskClient, alice: ApiUser, services: Services, plant: Plant
) -> None:
    media_id = str(uuid.uuid4())
    original = original_key(media_id, ".mp4")
    playback = derived_key(media_id, "hevc.mp4")
    thumb = derived_key(media_id, "thumb.jpg")
    for key, data in ((original, b"orig"), (playback, b"hevc"), (thumb, b"jpg")):
        plant(key, data, "text/html")
    _insert(services, alice, id=media_id, original_key=original, status="ready",
            playback_key=playback, thumbnail_key=thumb, width=1280, height=720)  # fmt: skip
    with services.pool.connection() as conn:
        conn.execute(
            "INSERT INTO processing_jobs (media_id, state, attempts, encoder, progress)"
            " VALUES (%s, 'succeeded', 1, 'libx265', 1)",
            (media_id,),
        )
    body = media_api.get(f"/api/media/{media_id}", headers=alice.headers).get_json()
    assert body["width"] == 1280
    assert body["processing"]["encoder"] == "libx265"
    assert body["processing"]["attempts"] == 1
    responses = {name: httpx.get(url) for name, url in body["urls"].items() if url}
    assert {name: r.content for name, r in responses.items()} == {
        "original": b"orig",
        "playback": b"hevc",
        "thumbnail": b"jpg",
    }
    # Whatever storage holds, downloads are served with safe types; originals as attachments.
    types = {name: r.headers["content-type"] for name, r in responses.items()}
    assert types == {"original": "video/mp4", "playback": "video/mp4", "thumbnail": "image/jpeg"}
    assert responses["original"].headers["content-disposition"].startswith("attachment;")


def test_lists_hand_out_the_same_urls_again_so_that_browsers_can_cache_them(
    media_api: FlaskClient, alice: ApiUser, services: Services, plant: Plant
) -> None:
    media_id = str(uuid.uuid4())
    thumb = derived_key(media_id, "thumb.webp")
    plant(thumb, b"webp", "text/html")
    _insert(services, alice, id=media_id, status="ready", thumbnail_key=thumb,
            playback_key=derived_key(media_id, "hevc.mp4"))  # fmt: skip
    reuse = services.settings.storage.download_url_reuse_seconds

    def urls() -> tuple[Any, ...]:
        items = media_api.get("/api/media?limit=50", headers=alice.headers).get_json()["items"]
        [listed] = [i for i in items if i["id"] == media_id]
        one = media_api.get(f"/api/media/{media_id}", headers=alice.headers).get_json()
        return listed["urls"], one["urls"], one["sources"]

    def later_than(second: int) -> Callable[[], bool]:
        return lambda: int(time.time()) != second

    while True:
        started = int(time.time())
        first = urls()
        poll(later_than(started), "the next second")  # a new X-Amz-Date, as signed until now
        second = urls()
        if started // reuse == int(time.time()) // reuse:
            break  # else a reuse window ended in between: ask again
    assert first == second
    listed, full, sources = first
    assert full["original"]
    assert sources
    assert listed["thumbnail"] == full["thumbnail"]
    assert httpx.get(listed["thumbnail"]).content == b"webp"


def test_a_page_signs_what_a_list_shows_and_the_item_everything(
    media_api: FlaskClient, alice: ApiUser, services: Services
) -> None:
    media_id = str(uuid.uuid4())
    _insert(services, alice, id=media_id, status="ready", sha256="0" * 64,
            thumbnail_key=derived_key(media_id, "thumb.webp"),
            thumbnail_jpeg_key=derived_key(media_id, "thumb.jpg"),
            playback_key=derived_key(media_id, "hevc.mp4"),
            web_key=derived_key(media_id, "web.mp4"))  # fmt: skip
    page = media_api.get("/api/media?limit=50", headers=alice.headers).get_json()
    [listed] = [item for item in page["items"] if item["id"] == media_id]
    one = media_api.get(f"/api/media/{media_id}", headers=alice.headers).get_json()
    # A page is what a grid shows: thumbnails. Playing or downloading opens the item, whose
    # URLs are signed then (and so are fresh however long the page has been open).
    shown = {"thumbnail", "thumbnail_jpeg"}
    assert {name for name, url in listed["urls"].items() if url} == shown
    assert listed["sources"] == []
    assert {name for name, url in one["urls"].items() if url} == shown | {
        "original", "playback", "web"}  # fmt: skip
    assert [source["type"].split(";")[0] for source in one["sources"]] == ["video/mp4"] * 2
    assert {name: listed["urls"][name] for name in shown} == {
        name: one["urls"][name] for name in shown}  # fmt: skip
    # Everything else about the item is the same in the list and on its own.
    assert {k: v for k, v in listed.items() if k not in {"urls", "sources"}} == {
        k: v for k, v in one.items() if k not in {"urls", "sources"}}  # fmt: skip


def test_pending_media_has_no_urls(
    media_api: FlaskClient, alice: ApiUser, services: Services
) -> None:
    [media_id] = _insert(services, alice)
    body = media_api.get(f"/api/media/{media_id}", headers=alice.headers).get_json()
    assert body["status"] == "pending"
    assert set(body["urls"].values()) == {None}


def test_delete_leaves_no_object_behind(
    media_api: FlaskClient, alice: ApiUser, services: Services, plant: Plant
) -> None:
    media_id = str(uuid.uuid4())
    storage = services.storage
    keys = [original_key(media_id, ".mp4"), derived_key(media_id, "hevc.mp4"),
            derived_key(media_id, "thumb.jpg"), f"uploads/{media_id}",
            # Stored before keys lost their owner id (issue 20): the row names them.
            f"derived/{alice.id}/{media_id}/web.mp4"]  # fmt: skip
    for key in keys:
        plant(key, b"x")
    _insert(
        services,
        alice,
        id=media_id,
        original_key=keys[0],
        status="ready",
        playback_key=keys[1],
        web_key=keys[4],
    )
    media_api.patch(f"/api/media/{media_id}", json={"tags": ["gone"]}, headers=alice.headers)

    assert media_api.delete(f"/api/media/{media_id}", headers=alice.headers).status_code == 204
    for key in keys:
        assert not storage.exists(key)
    leftovers = list(
        storage.client.list_objects(storage.bucket, prefix=f"derived/{media_id}/", recursive=True)
    )
    assert leftovers == []
    assert media_api.get(f"/api/media/{media_id}", headers=alice.headers).status_code == 404
    assert media_api.get("/api/tags", headers=alice.headers).get_json()["items"] == []


def test_another_users_media_is_404_everywhere(
    media_api: FlaskClient, alice: ApiUser, bob: ApiUser, services: Services
) -> None:
    [media_id] = _insert(services, alice, status="ready")
    for method, body in (("GET", None), ("PATCH", {"title": "mine now"}), ("DELETE", None)):
        response = media_api.open(
            f"/api/media/{media_id}", method=method, json=body, headers=bob.headers
        )
        assert response.status_code == 404
        assert response.get_json()["error"]["code"] == "not_found"
    assert media_api.get("/api/media", headers=bob.headers).get_json()["items"] == []
    assert (
        media_api.get(f"/api/media/{media_id}", headers=alice.headers).get_json()["title"] is None
    )


def test_bad_list_parameters_are_400(media_api: FlaskClient, alice: ApiUser) -> None:
    for query in ("limit=0", "limit=101", "limit=x", "cursor=garbage", "status=done", "kind=doc"):
        response = media_api.get(f"/api/media?{query}", headers=alice.headers)
        assert response.status_code == 400, query
    assert media_api.get("/api/media").status_code == 401
    assert media_api.get("/api/media/not-a-uuid", headers=alice.headers).status_code == 404
