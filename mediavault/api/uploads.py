"""The presign function: start, re-sign, complete and abort uploads that go straight to MinIO."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.wrappers import Response

from mediavault.warmup import API, QUEUE
from mediavault.web import Endpoint, RequestContext, json_response

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

logger = logging.getLogger(__name__)

NO_STORE = {"Cache-Control": "no-store"}


# What its handlers import lazily: imported once, in one thread (mediavault.warmup).
WARMUP = (*API, *QUEUE, "mediavault.uploads", "mediavault.checksums")


def endpoints(registry: CollectorRegistry) -> Iterable[Endpoint]:
    """Every route of the presign function."""
    return [
        Endpoint("/api/uploads", ("POST",), create_upload),
        Endpoint("/api/uploads/<uuid:media_id>/urls", ("POST",), refresh_urls),
        Endpoint("/api/uploads/<uuid:media_id>/complete", ("POST",), complete_upload),
        Endpoint("/api/uploads/<uuid:media_id>", ("DELETE",), abort_upload),
    ]


def create_upload(ctx: RequestContext) -> Response:
    """POST /api/uploads: a pending media row and where to PUT its bytes."""
    from mediavault.schemas import UploadRequest
    from mediavault.uploads import parse_upload_request, start_upload

    user = ctx.user()
    upload = parse_upload_request(ctx.body(UploadRequest), ctx.settings.uploads)
    services = ctx.services
    body = start_upload(ctx.settings, services.pool, services.storage, user.id, upload)
    # A duplicate starts nothing: 200 with the media that already holds these bytes.
    status = 200 if "duplicate_of" in body else 201
    return json_response(body, status=status, headers=NO_STORE)


def refresh_urls(ctx: RequestContext, media_id: object) -> Response:
    """POST /api/uploads/{id}/urls: fresh URLs for an upload still being sent."""
    from mediavault.schemas import UploadUrlsRequest
    from mediavault.uploads import upload_urls

    user = ctx.user()
    body = ctx.body(UploadUrlsRequest, optional=True)
    parts = None if body is None else body.parts
    services = ctx.services
    answer = upload_urls(
        ctx.settings, services.pool, services.storage, user.id, str(media_id), parts=parts
    )
    return json_response(answer, headers=NO_STORE)


def complete_upload(ctx: RequestContext, media_id: object) -> Response:
    """POST /api/uploads/{id}/complete: assemble a multipart upload, or confirm a single PUT."""
    from mediavault.errors import MediaVaultError
    from mediavault.media import get_media, to_json
    from mediavault.queue import object_created_message, publish
    from mediavault.schemas import UploadCompletion
    from mediavault.uploads import complete_upload as complete

    user = ctx.user()
    storage = ctx.services.storage
    body = ctx.body(UploadCompletion, optional=True)
    waiting = complete(ctx.settings, ctx.services.pool, storage, user.id, str(media_id), body=body)
    with ctx.services.pool.connection() as conn:
        row = get_media(conn, user.id, str(media_id))
    if waiting:
        # MinIO's own event follows within seconds and is then a harmless duplicate: the worker
        # claims an upload once. If nsqd is unreachable now, that event is the fallback.
        message = object_created_message(storage.bucket, row["upload_key"], row["size_bytes"])
        try:
            publish(ctx.settings.queue, message)
        except MediaVaultError as error:
            logger.warning("left to MinIO's event: %s", error)
    return json_response(to_json(row, storage), headers=NO_STORE)


def abort_upload(ctx: RequestContext, media_id: object) -> Response:
    """DELETE /api/uploads/{id}: give up an upload before it is processed."""
    from mediavault.uploads import abort_upload as abort

    user = ctx.user()
    abort(ctx.services.pool, ctx.services.storage, user.id, str(media_id))
    return Response(status=204)
