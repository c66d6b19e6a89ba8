"""The media function: the signed-in user's media and tags."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.wrappers import Response

from mediavault.warmup import API, QUEUE
from mediavault.web import Endpoint, RequestContext, json_response

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from mediavault.schemas import MediaList, TagList

logger = logging.getLogger(__name__)

PRIVATE = {"Cache-Control": "private, no-store"}


# What its handlers import lazily: imported once, in one thread (mediavault.warmup).
WARMUP = (*API, *QUEUE, "mediavault.jobs")


def endpoints(registry: CollectorRegistry) -> Iterable[Endpoint]:
    """Every route of the media function."""
    return [
        Endpoint("/api/media", ("GET",), list_media),
        Endpoint("/api/media/<uuid:media_id>", ("GET",), get_media),
        Endpoint("/api/media/<uuid:media_id>", ("PATCH",), patch_media),
        Endpoint("/api/media/<uuid:media_id>", ("DELETE",), delete_media),
        Endpoint("/api/media/<uuid:media_id>/retry", ("POST",), retry_media),
        Endpoint("/api/tags", ("GET",), list_tags),
    ]


def list_media(ctx: RequestContext) -> Response:
    """GET /api/media: a page of the user's media, newest first (or as `sort`/`order` say)."""
    from mediavault import media
    from mediavault.pagination import Cursor, parse_limit

    user = ctx.user()
    args = ctx.request.args
    where = media.MediaFilter.parse(
        args.get("status"), args.get("kind"), args.getlist("tag"), args.get("q")
    )
    limit = parse_limit(args.get("limit"))
    cursor = Cursor.decode(args["cursor"]) if args.get("cursor") else None
    # Issue 14: sort by capture time and keep a date range (both on the same timeline).
    order = media.MediaOrder.parse(
        args.get("sort"), args.get("order"), args.get("taken_from"), args.get("taken_to")
    )
    with ctx.services.pool.connection() as conn:
        rows, next_cursor = media.list_media(conn, user.id, where, limit, cursor, order=order)
    storage = ctx.services.storage
    body: MediaList = {
        "items": [media.to_json(row, storage, listed=True) for row in rows],
        "next_cursor": next_cursor.encode() if next_cursor else None,
    }
    return json_response(body, headers=PRIVATE)


def get_media(ctx: RequestContext, media_id: object) -> Response:
    """GET /api/media/{id}."""
    from mediavault import media

    user = ctx.user()
    with ctx.services.pool.connection() as conn:
        row = media.get_media(conn, user.id, str(media_id))
    return json_response(media.to_json(row, ctx.services.storage), headers=PRIVATE)


def patch_media(ctx: RequestContext, media_id: object) -> Response:
    """PATCH /api/media/{id}: title and tags."""
    from mediavault import media
    from mediavault.schemas import MediaUpdate

    user = ctx.user()
    body = ctx.body(MediaUpdate)
    with ctx.services.pool.connection() as conn, conn.transaction():
        media.update_media(conn, user.id, str(media_id), body)
        row = media.get_media(conn, user.id, str(media_id))
    return json_response(media.to_json(row, ctx.services.storage), headers=PRIVATE)


def delete_media(ctx: RequestContext, media_id: object) -> Response:
    """DELETE /api/media/{id}: the row and every object of the media."""
    from mediavault import media

    user = ctx.user()
    with ctx.services.pool.connection() as conn, conn.transaction():
        media.delete_media(conn, ctx.services.storage, user.id, str(media_id))
    return Response(status=204)


def retry_media(ctx: RequestContext, media_id: object) -> Response:
    """POST /api/media/{id}/retry: queue a failed item for processing again."""
    from mediavault import jobs, media
    from mediavault.errors import Conflict, MediaVaultError
    from mediavault.queue import object_created_message, publish

    user = ctx.user()
    storage = ctx.services.storage
    with ctx.services.pool.connection() as conn, conn.transaction():
        media.get_media(conn, user.id, str(media_id))  # 404 unless it is yours
        reset = jobs.reset_for_retry(conn, user.id, str(media_id))
        if reset is None:
            raise Conflict(
                "only failed media whose file was kept can be retried; upload refused files again",
                code="not_retryable",
            )
    # Published after the commit, or the worker could read the event before the reset. Should
    # nsqd be down now, the item waits as `pending` and `mediavault reconcile` re-enqueues it.
    message = object_created_message(storage.bucket, reset["source_key"], reset["size_bytes"])
    try:
        publish(ctx.settings.queue, message)
    except MediaVaultError as error:
        logger.warning("retry queued for reconcile: %s", error)
    with ctx.services.pool.connection() as conn:
        row = media.get_media(conn, user.id, str(media_id))
    return json_response(media.to_json(row, storage), status=202, headers=PRIVATE)


def list_tags(ctx: RequestContext) -> Response:
    """GET /api/tags: the user's tags with counts."""
    from mediavault import media

    user = ctx.user()
    with ctx.services.pool.connection() as conn:
        items = media.list_tags(conn, user.id)
    body: TagList = {"items": items, "next_cursor": None}
    return json_response(body, headers=PRIVATE)
