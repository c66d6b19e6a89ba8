"""The presign function: start, complete and abort uploads that go straight to MinIO."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.wrappers import Response

from mediavault.web import Endpoint, RequestContext, json_response

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

NO_STORE = {"Cache-Control": "no-store"}


def endpoints(registry: CollectorRegistry) -> Iterable[Endpoint]:
    """Every route of the presign function."""
    return [
        Endpoint("/api/uploads", ("POST",), create_upload),
        Endpoint("/api/uploads/<uuid:media_id>/complete", ("POST",), complete_upload),
        Endpoint("/api/uploads/<uuid:media_id>", ("DELETE",), abort_upload),
    ]


def create_upload(ctx: RequestContext) -> Response:
    """POST /api/uploads: a pending media row and where to PUT its bytes."""
    from mediavault.uploads import parse_upload_request, start_upload

    user = ctx.user()
    upload = parse_upload_request(ctx.json_body(), ctx.settings.uploads)
    services = ctx.services
    body = start_upload(ctx.settings, services.pool, services.storage, user.id, upload)
    return json_response(body, status=201, headers=NO_STORE)


def complete_upload(ctx: RequestContext, media_id: object) -> Response:
    """POST /api/uploads/{id}/complete: assemble the parts of a multipart upload."""
    from mediavault.media import get_media, to_json
    from mediavault.uploads import complete_upload as complete

    user = ctx.user()
    body = ctx.json_body()
    complete(ctx.services.pool, ctx.services.storage, user.id, str(media_id), body)
    with ctx.services.pool.connection() as conn:
        row = get_media(conn, user.id, str(media_id))
    return json_response(to_json(row, ctx.services.storage), headers=NO_STORE)


def abort_upload(ctx: RequestContext, media_id: object) -> Response:
    """DELETE /api/uploads/{id}: give up an upload before it is processed."""
    from mediavault.uploads import abort_upload as abort

    user = ctx.user()
    abort(ctx.services.pool, ctx.services.storage, user.id, str(media_id))
    return Response(status=204)
