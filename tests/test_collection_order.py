"""A collection's order in one atomic request, and its chosen cover (in the API and a share)."""

from __future__ import annotations

import uuid
from typing import Any

from flask.testing import FlaskClient

from mediavault.services import Services
from mediavault.sessions import create_session
from tests.api_fixtures import ApiUser, FunctionClient
from tests.test_collections import _create
from tests.test_media import _insert


def _collection_with(
    api: FlaskClient, services: Services, user: ApiUser, count: int = 3
) -> tuple[str, list[str]]:
    """A collection of `count` ready media with thumbnails, in insertion order."""
    collection = _create(api, user)
    media = [str(uuid.uuid4()) for _ in range(count)]
    for media_id in media:
        key = f"derived/{media_id}/thumb.webp"
        _insert(services, user, id=media_id, status="ready", thumbnail_key=key)
        response = api.put(f"/api/collections/{collection}/items/{media_id}", headers=user.headers)
        assert response.status_code == 204
    return collection, media


def _get(api: FlaskClient, user: ApiUser, collection: str) -> dict[str, Any]:
    response = api.get(f"/api/collections/{collection}", headers=user.headers)
    assert response.status_code == 200
    body: dict[str, Any] = response.get_json()
    return body


def _order(api: FlaskClient, user: ApiUser, collection: str, ids: list[str]) -> Any:
    return api.put(
        f"/api/collections/{collection}/order", json={"media_ids": ids}, headers=user.headers
    )


def test_reorder_is_one_request_and_persists(
    collections_api: FlaskClient, alice: ApiUser, services: Services
) -> None:
    collection, (a, b, c) = _collection_with(collections_api, services, alice)
    before = _get(collections_api, alice, collection)["updated_at"]
    response = _order(collections_api, alice, collection, [c, a, b])
    assert response.status_code == 200, response.get_data(as_text=True)
    assert [item["id"] for item in response.get_json()["items"]] == [c, a, b]
    after = _get(collections_api, alice, collection)
    assert [item["id"] for item in after["items"]] == [c, a, b]
    assert after["updated_at"] > before
    # The automatic cover follows the order; an item added later goes to the end.
    assert f"/{c}/thumb.webp" in after["cover"]
    [d] = _insert(services, alice, status="ready")
    collections_api.put(f"/api/collections/{collection}/items/{d}", headers=alice.headers)
    assert [i["id"] for i in _get(collections_api, alice, collection)["items"]] == [c, a, b, d]


def test_an_order_that_is_not_exactly_the_items_changes_nothing(
    collections_api: FlaskClient, alice: ApiUser, services: Services
) -> None:
    collection, (a, b, c) = _collection_with(collections_api, services, alice)
    [elsewhere] = _insert(services, alice, status="ready")
    stranger = str(uuid.uuid4())
    for ids, says in (
        ([b, a], "1 item(s) missing"),
        ([c, b, a, elsewhere], "1 not in the collection"),
        ([c, b, a, a], "1 listed more than once"),
        ([c, b, stranger], "missing"),
        ([], "3 item(s) missing"),
    ):
        response = _order(collections_api, alice, collection, ids)
        assert response.status_code == 409, ids
        error = response.get_json()["error"]
        assert error["code"] == "order_mismatch"
        assert says in error["message"], error["message"]
    assert [i["id"] for i in _get(collections_api, alice, collection)["items"]] == [a, b, c]
    for body in ({"media_ids": ["not-a-uuid"]}, {"media_ids": None}, {}, {"ids": [a]}):
        response = collections_api.put(
            f"/api/collections/{collection}/order", json=body, headers=alice.headers
        )
        assert response.status_code == 400, body
    too_many = {"media_ids": [str(uuid.uuid4()) for _ in range(20_001)]}
    response = collections_api.put(
        f"/api/collections/{collection}/order", json=too_many, headers=alice.headers
    )
    assert response.status_code in (400, 413)


def test_another_users_collection_is_404(
    collections_api: FlaskClient, alice: ApiUser, bob: ApiUser, services: Services
) -> None:
    collection, (a, b) = _collection_with(collections_api, services, alice, count=2)
    assert _order(collections_api, bob, collection, [b, a]).status_code == 404
    assert _order(collections_api, bob, str(uuid.uuid4()), [b, a]).status_code == 404
    patched = collections_api.patch(
        f"/api/collections/{collection}", json={"cover_media_id": b}, headers=bob.headers
    )
    assert patched.status_code == 404
    body = _get(collections_api, alice, collection)
    assert [i["id"] for i in body["items"]] == [a, b]
    assert body["cover_media_id"] is None
    assert collections_api.put(f"/api/collections/{collection}/order").status_code == 401


def test_cover_is_chosen_cleared_and_followed_by_the_share(
    collections_api: FlaskClient, share_api: FlaskClient, alice: ApiUser, services: Services
) -> None:
    collection, (a, b, c) = _collection_with(collections_api, services, alice)
    share = collections_api.post(
        f"/api/collections/{collection}/shares", json={}, headers=alice.headers
    ).get_json()

    def shared_cover() -> str | None:
        view = share_api.get(f"/api/share/{share['token']}").get_json()
        cover: str | None = view["collection"]["cover"]
        return cover

    def patch(value: str | None) -> Any:
        return collections_api.patch(
            f"/api/collections/{collection}", json={"cover_media_id": value}, headers=alice.headers
        )

    assert shared_cover() == f"{services.settings.api_base_url}/s/{share['token']}/m/{a}/thumbnail"
    response = patch(b)
    assert response.status_code == 200
    assert response.get_json()["cover_media_id"] == b
    assert f"/{b}/thumb.webp" in response.get_json()["cover"]
    assert f"/m/{b}/thumbnail" in (shared_cover() or "")
    page = share_api.get(f"/s/{share['token']}").get_data(as_text=True)
    assert f'class=cover src="/s/{share["token"]}/m/{b}/thumbnail"' in page
    # A chosen cover that is not ready shows the automatic one, and is kept for when it is.
    with services.pool.connection() as conn:
        conn.execute("UPDATE media SET status = 'processing' WHERE id = %s", (b,))
    body = _get(collections_api, alice, collection)
    assert body["cover_media_id"] == b
    assert f"/{a}/thumb.webp" in body["cover"]
    with services.pool.connection() as conn:
        conn.execute("UPDATE media SET status = 'ready' WHERE id = %s", (b,))

    # Only an item of the collection; null goes back to automatic.
    [outside] = _insert(services, alice, status="ready")
    refused = patch(outside)
    assert refused.status_code == 409
    assert refused.get_json()["error"]["code"] == "not_in_collection"
    assert patch(None).get_json()["cover_media_id"] is None
    assert f"/m/{a}/thumbnail" in (shared_cover() or "")

    # Taking the cover out of the collection clears it.
    assert patch(c).get_json()["cover_media_id"] == c
    removed = collections_api.delete(
        f"/api/collections/{collection}/items/{c}", headers=alice.headers
    )
    assert removed.status_code == 204
    body = _get(collections_api, alice, collection)
    assert body["cover_media_id"] is None
    assert f"/{a}/thumb.webp" in body["cover"]
    assert f"/m/{a}/thumbnail" in (shared_cover() or "")


def test_a_cookie_order_needs_our_origin(
    function_client: FunctionClient, alice: ApiUser, services: Services
) -> None:
    frontend = "http://app.example.test"
    app = function_client("collections", FRONTEND_URL=frontend)
    collection, (a, b) = _collection_with(app, services, alice, count=2)
    with services.pool.connection() as conn:
        token, _ = create_session(conn, alice.id, 3600, "tests")
    app.set_cookie("mv_session", token)
    path, body = f"/api/collections/{collection}/order", {"media_ids": [b, a]}
    for headers in ({}, {"Origin": "https://evil.example"}):
        assert app.put(path, json=body, headers=headers).status_code == 403, headers
    assert [i["id"] for i in _get(app, alice, collection)["items"]] == [a, b]
    assert app.put(path, json=body, headers={"Origin": frontend}).status_code == 200
