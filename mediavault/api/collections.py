"""The collections function: collections of the signed-in user's media, and their share links."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.wrappers import Response

from mediavault.web import Endpoint, RequestContext, json_response

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from mediavault.schemas import (
        Collection,
        CollectionList,
        CollectionSummary,
        Share,
        ShareCreated,
        ShareList,
    )
    from mediavault.storage import Storage

PRIVATE = {"Cache-Control": "private, no-store"}


def endpoints(registry: CollectorRegistry) -> Iterable[Endpoint]:
    """Every route of the collections function."""
    one = "/api/collections/<uuid:collection_id>"
    return [
        Endpoint("/api/collections", ("POST",), create_collection),
        Endpoint("/api/collections", ("GET",), list_collections),
        Endpoint(one, ("GET",), get_collection),
        Endpoint(one, ("PATCH",), update_collection),
        Endpoint(one, ("DELETE",), delete_collection),
        Endpoint(f"{one}/order", ("PUT",), set_order),
        Endpoint(f"{one}/items/<uuid:media_id>", ("PUT",), add_item),
        Endpoint(f"{one}/items/<uuid:media_id>", ("DELETE",), remove_item),
        Endpoint(f"{one}/shares", ("POST",), create_share),
        Endpoint(f"{one}/shares", ("GET",), list_shares),
        Endpoint(f"{one}/shares/<uuid:share_id>", ("DELETE",), revoke_share),
    ]


def _summary(row: dict[str, Any], storage: Storage) -> CollectionSummary:
    from mediavault.downloads import derived_url

    expiry = storage.settings.download_expiry_seconds
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "description": row["description"],
        "item_count": row["item_count"],
        "cover": derived_url(storage, row["cover_key"], expiry),
        "cover_media_id": str(row["cover_media_id"]) if row["cover_media_id"] else None,
        "created_at": row["created_at"],
        "updated_at": row["updated_at"],
    }


def _full(ctx: RequestContext, owner_id: str, collection_id: str) -> Collection:
    from mediavault import collections, media

    storage = ctx.services.storage
    with ctx.services.pool.connection() as conn:
        row = collections.get(conn, owner_id, collection_id)
        rows = collections.items(conn, collection_id)
    return {**_summary(row, storage), "items": [media.to_json(item, storage) for item in rows]}


def create_collection(ctx: RequestContext) -> Response:
    """POST /api/collections."""
    from mediavault import collections
    from mediavault.schemas import CollectionFields

    user = ctx.user()
    fields = collections.parse_fields(ctx.body(CollectionFields))
    with ctx.services.pool.connection() as conn:
        row = collections.create(conn, user.id, fields)
    body: Collection = {**_summary(row, ctx.services.storage), "items": []}
    return json_response(body, 201, PRIVATE)


def list_collections(ctx: RequestContext) -> Response:
    """GET /api/collections: newest first, keyset pages."""
    from mediavault import collections
    from mediavault.pagination import Cursor, parse_limit

    user = ctx.user()
    limit = parse_limit(ctx.request.args.get("limit"))
    raw_cursor = ctx.request.args.get("cursor")
    cursor = Cursor.decode(raw_cursor) if raw_cursor else None
    with ctx.services.pool.connection() as conn:
        rows, next_cursor = collections.list_page(conn, user.id, limit, cursor)
    body: CollectionList = {
        "items": [_summary(row, ctx.services.storage) for row in rows],
        "next_cursor": next_cursor.encode() if next_cursor else None,
    }
    return json_response(body, headers=PRIVATE)


def get_collection(ctx: RequestContext, collection_id: object) -> Response:
    """GET /api/collections/{id}: with its items in order."""
    user = ctx.user()
    return json_response(_full(ctx, user.id, str(collection_id)), headers=PRIVATE)


def update_collection(ctx: RequestContext, collection_id: object) -> Response:
    """PATCH /api/collections/{id}: title, description, cover."""
    from msgspec import UNSET

    from mediavault import collections
    from mediavault.schemas import CollectionUpdate

    user = ctx.user()
    body = ctx.body(CollectionUpdate)
    fields = collections.parse_fields(body)
    with ctx.services.pool.connection() as conn, conn.transaction():
        collections.update(conn, user.id, str(collection_id), fields)
        if body.cover_media_id is not UNSET:
            cover = None if body.cover_media_id is None else str(body.cover_media_id)
            collections.set_cover(conn, user.id, str(collection_id), cover)
    return json_response(_full(ctx, user.id, str(collection_id)), headers=PRIVATE)


def set_order(ctx: RequestContext, collection_id: object) -> Response:
    """PUT /api/collections/{id}/order: all the items in their new order, in one transaction."""
    from mediavault import collections
    from mediavault.schemas import CollectionOrder

    user = ctx.user()
    media_ids = [str(media_id) for media_id in ctx.body(CollectionOrder).media_ids]
    with ctx.services.pool.connection() as conn, conn.transaction():
        collections.set_order(conn, user.id, str(collection_id), media_ids)
    return json_response(_full(ctx, user.id, str(collection_id)), headers=PRIVATE)


def delete_collection(ctx: RequestContext, collection_id: object) -> Response:
    """DELETE /api/collections/{id}: its media stay."""
    from mediavault import collections

    user = ctx.user()
    with ctx.services.pool.connection() as conn:
        collections.delete(conn, user.id, str(collection_id))
    return Response(status=204)


def add_item(ctx: RequestContext, collection_id: object, media_id: object) -> Response:
    """PUT /api/collections/{id}/items/{media_id}: idempotent."""
    from mediavault import collections

    user = ctx.user()
    with ctx.services.pool.connection() as conn, conn.transaction():
        collections.add_item(conn, user.id, str(collection_id), str(media_id))
    return Response(status=204)


def remove_item(ctx: RequestContext, collection_id: object, media_id: object) -> Response:
    """DELETE /api/collections/{id}/items/{media_id}: idempotent."""
    from mediavault import collections

    user = ctx.user()
    with ctx.services.pool.connection() as conn, conn.transaction():
        collections.remove_item(conn, user.id, str(collection_id), str(media_id))
    return Response(status=204)


def _share_json(row: dict[str, Any]) -> Share:
    return {
        "id": str(row["id"]),
        "expires_at": row["expires_at"],
        "allow_download": row["allow_download"],
        "include_location": row["include_location"],
        "has_password": row["has_password"],
        "revoked": row["revoked_at"] is not None,
        "view_count": row["view_count"],
        "created_at": row["created_at"],
    }


def create_share(ctx: RequestContext, collection_id: object) -> Response:
    """POST /api/collections/{id}/shares: the token and URL are shown only here."""
    from mediavault import collections, shares
    from mediavault.schemas import ShareRequest

    user = ctx.user()
    options = ctx.body(ShareRequest)
    with ctx.services.pool.connection() as conn, conn.transaction():
        collections.get(conn, user.id, str(collection_id))
        token, row = shares.create(conn, str(collection_id), options)
    url = f"{ctx.settings.api_base_url}/s/{token}"
    body: ShareCreated = {**_share_json(row), "token": token, "url": url}
    return json_response(body, 201, {"Cache-Control": "no-store"})


def list_shares(ctx: RequestContext, collection_id: object) -> Response:
    """GET /api/collections/{id}/shares: without tokens."""
    from mediavault import collections, shares

    user = ctx.user()
    with ctx.services.pool.connection() as conn:
        collections.get(conn, user.id, str(collection_id))
        rows = shares.list_for(conn, str(collection_id))
    body: ShareList = {"items": [_share_json(r) for r in rows], "next_cursor": None}
    return json_response(body, headers=PRIVATE)


def revoke_share(ctx: RequestContext, collection_id: object, share_id: object) -> Response:
    """DELETE /api/collections/{id}/shares/{share_id}: effective at once."""
    from mediavault import collections, shares

    user = ctx.user()
    with ctx.services.pool.connection() as conn, conn.transaction():
        collections.get(conn, user.id, str(collection_id))
        shares.revoke(conn, str(collection_id), str(share_id))
    return Response(status=204)
