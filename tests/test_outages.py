"""A dependency down gives a quick 503 with Retry-After, and service resumes once it is back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from flask.testing import FlaskClient

from tests.api_fixtures import ApiUser, FunctionClient, MakeUser
from tests.harness import Stack, poll


@contextmanager
def stopped(stack: Stack, name: str) -> Iterator[None]:
    """Stop one of the stack's services for the block, then start it again."""
    service = stack.processes.running[name]
    service.stop()
    try:
        yield
    finally:
        stack.processes.start(service.spec)


def _unavailable(response: object) -> dict[str, object]:
    assert getattr(response, "status_code", None) == 503
    assert response.headers["Retry-After"].isdigit()  # type: ignore[attr-defined]
    body: dict[str, object] = response.get_json()  # type: ignore[attr-defined]
    return body


def test_postgresql_down_is_a_quick_503_and_service_resumes(
    stack: Stack, media_api: FlaskClient, alice: ApiUser
) -> None:
    assert media_api.get("/api/media", headers=alice.headers).status_code == 200
    with stopped(stack, "postgres"):
        started = time.monotonic()
        first = media_api.get("/api/media", headers=alice.headers)
        waited = time.monotonic() - started
        body = _unavailable(first)
        assert body["error"] == {
            "code": "service_unavailable", "message": "the database is unavailable; retry"
        }  # fmt: skip
        # No request waits out the 3 s connect timeout: the pool gives up on its own quickly,
        # and callers right after it are refused at once.
        assert waited < stack.settings.database.connect_timeout_seconds
        _unavailable(media_api.get("/api/tags", headers=alice.headers))
    poll(
        lambda: media_api.get("/api/media", headers=alice.headers).status_code == 200,
        "the API to answer again after PostgreSQL's restart",
        30,
    )


def test_storage_down_is_a_503_not_a_500(
    stack: Stack, function_client: FunctionClient, alice: ApiUser
) -> None:
    presign = function_client("presign", MULTIPART_THRESHOLD_BYTES=str(5 * 1024 * 1024))
    body = {"filename": "big.mp4", "content_type": "video/mp4", "size_bytes": 6 * 1024 * 1024}
    with stopped(stack, "minio"):
        body_of = _unavailable(presign.post("/api/uploads", json=body, headers=alice.headers))
        assert body_of["error"] == {
            "code": "service_unavailable", "message": "storage is unavailable; retry"
        }  # fmt: skip
    poll(
        lambda: presign.post("/api/uploads", json=body, headers=alice.headers).status_code == 201,
        "uploads to work again after MinIO's restart",
        30,
    )


def test_too_many_unfinished_uploads_or_too_fast_is_429(
    function_client: FunctionClient, alice: ApiUser, bob: ApiUser, make_user: MakeUser
) -> None:
    presign = function_client("presign", MAX_PENDING_UPLOADS_PER_USER="3")
    body = {"filename": "a.jpg", "content_type": "image/jpeg", "size_bytes": 10}
    for _ in range(3):
        poll(
            lambda: (
                presign.post("/api/uploads", json=body, headers=alice.headers).status_code == 201
            ),
            "uploads to work again after MinIO's restart",
            30,
        )
    refused = presign.post("/api/uploads", json=body, headers=alice.headers)
    assert refused.status_code == 429
    assert refused.headers["Retry-After"] == "60"
    assert refused.get_json()["error"]["code"] == "too_many_pending_uploads"
    assert presign.post("/api/uploads", json=body, headers=bob.headers).status_code == 201

    fast = function_client("presign", UPLOADS_PER_USER_PER_MINUTE="2")
    carol = make_user()
    for _ in range(2):
        assert fast.post("/api/uploads", json=body, headers=carol.headers).status_code == 201
    limited = fast.post("/api/uploads", json=body, headers=carol.headers)
    assert limited.status_code == 429
    assert limited.get_json()["error"]["code"] == "upload_rate_limited"
