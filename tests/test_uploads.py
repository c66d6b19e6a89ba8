"""Uploads through the presign function: single PUT, multipart, abort, and validation."""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from flask.testing import FlaskClient

from mediavault.services import Services
from tests.api_fixtures import ApiUser, FunctionClient

MIB = 1024 * 1024


def _error(response: Any, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body["error"]) == {"code", "message"}
    return str(body["error"]["code"])


def _key(services: Services, media_id: str) -> str:
    with services.pool.connection() as conn:
        row = conn.execute("SELECT upload_key FROM media WHERE id = %s", (media_id,)).fetchone()
    assert row is not None
    return str(row["upload_key"])


def test_single_put_upload(presign: FlaskClient, alice: ApiUser, services: Services) -> None:
    payload = os.urandom(200_000)
    response = presign.post(
        "/api/uploads",
        json={
            "filename": "Holiday Clip.MP4",
            "content_type": "video/mp4",
            "size_bytes": len(payload),
            "title": "Beach",
        },
        headers=alice.headers,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert set(body) == {"media_id", "method", "url", "headers", "expires_at"}
    assert body["method"] == "PUT"
    assert urlsplit(body["url"]).netloc == urlsplit(services.settings.storage.public_url).netloc
    put = httpx.put(body["url"], content=payload, headers=body["headers"])
    assert put.status_code == 200, put.text

    key = _key(services, body["media_id"])
    assert key == f"uploads/{body['media_id']}"  # a staging key: nothing serves it
    stored = services.storage.client.get_object(services.storage.bucket, key)
    try:
        assert stored.read() == payload
    finally:
        stored.close()


def test_multipart_upload_just_above_the_threshold(
    function_client: FunctionClient, alice: ApiUser, services: Services
) -> None:
    presign = function_client(
        "presign", MULTIPART_THRESHOLD_BYTES=str(10 * MIB), MULTIPART_PART_SIZE_BYTES=str(5 * MIB)
    )
    payload = os.urandom(10 * MIB + 1000)
    response = presign.post(
        "/api/uploads",
        json={"filename": "big.mov", "content_type": "video/quicktime", "size_bytes": len(payload)},
        headers=alice.headers,
    )
    assert response.status_code == 201
    body = response.get_json()
    assert body["part_size"] == 5 * MIB
    assert [(p["part_number"], p["size"]) for p in body["parts"]] == [
        (1, 5 * MIB), (2, 5 * MIB), (3, 1000)
    ]  # fmt: skip
    etags = []
    for part in body["parts"]:
        start = (part["part_number"] - 1) * body["part_size"]
        put = httpx.put(part["url"], content=payload[start : start + part["size"]])
        assert put.status_code == 200, put.text
        etags.append({"part_number": part["part_number"], "etag": put.headers["ETag"]})

    done = presign.post(
        f"/api/uploads/{body['media_id']}/complete", json={"parts": etags}, headers=alice.headers
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    assert done.get_json()["id"] == body["media_id"]
    stored = services.storage.client.get_object(
        services.storage.bucket, _key(services, body["media_id"])
    )
    try:
        assert stored.read() == payload
    finally:
        stored.close()
    again = presign.post(f"/api/uploads/{body['media_id']}/complete", headers=alice.headers)
    assert again.status_code == 200  # idempotent once assembled


def _start_multipart(presign: FlaskClient, user: ApiUser) -> dict[str, Any]:
    response = presign.post(
        "/api/uploads",
        json={"filename": "big.mp4", "content_type": "video/mp4", "size_bytes": 12 * MIB},
        headers=user.headers,
    )
    assert response.status_code == 201
    body: dict[str, Any] = response.get_json()
    return body


def test_abort_removes_the_upload_and_its_row(
    function_client: FunctionClient, alice: ApiUser, services: Services
) -> None:
    presign = function_client("presign", MULTIPART_THRESHOLD_BYTES=str(10 * MIB))
    body = _start_multipart(presign, alice)
    assert "upload_id" in body
    first = body["parts"][0]
    assert httpx.put(first["url"], content=b"x" * first["size"]).status_code == 200
    aborted = presign.delete(f"/api/uploads/{body['media_id']}", headers=alice.headers)
    assert aborted.status_code == 204
    with services.pool.connection() as conn:
        assert (
            conn.execute("SELECT 1 FROM media WHERE id = %s", (body["media_id"],)).fetchone()
            is None
        )
    late = presign.post(
        f"/api/uploads/{body['media_id']}/complete",
        json={"parts": [{"part_number": 1, "etag": "x"}]},
        headers=alice.headers,
    )
    assert _error(late, 404) == "not_found"
    # The parts are gone too: uploading another part to the aborted upload fails.
    assert httpx.put(first["url"], content=b"y" * first["size"]).status_code == 404


def test_completing_with_a_wrong_etag_is_400(
    function_client: FunctionClient, alice: ApiUser
) -> None:
    presign = function_client("presign", MULTIPART_THRESHOLD_BYTES=str(10 * MIB))
    body = _start_multipart(presign, alice)
    parts = [{"part_number": n, "etag": '"0123456789abcdef0123456789abcdef"'} for n in (1, 2)]
    response = presign.post(
        f"/api/uploads/{body['media_id']}/complete", json={"parts": parts}, headers=alice.headers
    )
    assert response.status_code == 400


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        (
            {"filename": "a.html", "content_type": "text/html", "size_bytes": 10},
            415,
            "unsupported_media_type",
        ),
        (
            {"filename": "a.svg", "content_type": "image/svg+xml", "size_bytes": 10},
            415,
            "unsupported_media_type",
        ),
        (
            {
                "filename": "a.m3u8",
                "content_type": "application/vnd.apple.mpegurl",
                "size_bytes": 10,
            },
            415,
            "unsupported_media_type",
        ),
        (
            {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 11 * 1024**3},
            413,
            "payload_too_large",
        ),
        ({"filename": "", "content_type": "video/mp4", "size_bytes": 10}, 400, "invalid_filename"),
        (
            {"filename": "   ", "content_type": "video/mp4", "size_bytes": 10},
            400,
            "invalid_filename",
        ),
        (
            {"filename": "..", "content_type": "video/mp4", "size_bytes": 10},
            400,
            "invalid_filename",
        ),
        (
            {"filename": "../../etc/passwd", "content_type": "video/mp4", "size_bytes": 10},
            400,
            "invalid_filename",
        ),
        (
            {"filename": "a\x00b.mp4", "content_type": "video/mp4", "size_bytes": 10},
            400,
            "invalid_filename",
        ),
        (
            {"filename": "x" * 256, "content_type": "video/mp4", "size_bytes": 10},
            400,
            "invalid_filename",
        ),
        ({"filename": 5, "content_type": "video/mp4", "size_bytes": 10}, 400, "invalid_filename"),
        ({"filename": "a.mp4", "content_type": "video", "size_bytes": 10}, 400, "bad_request"),
        ({"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 0}, 400, "bad_request"),
        (
            {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": True},
            400,
            "bad_request",
        ),
        (
            {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": "10"},
            400,
            "bad_request",
        ),
        ({"filename": "a.mp4", "content_type": "video/mp4"}, 400, "bad_request"),
        (
            {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 10, "title": 7},
            400,
            "bad_request",
        ),
    ],
)
def test_upload_validation(
    presign: FlaskClient, alice: ApiUser, body: dict[str, Any], status: int, code: str
) -> None:
    assert _error(presign.post("/api/uploads", json=body, headers=alice.headers), status) == code


def test_content_type_allow_list_is_configurable(
    function_client: FunctionClient, alice: ApiUser
) -> None:
    presign = function_client("presign", ALLOWED_CONTENT_TYPES="image/jpeg,video/*")
    ok = {"filename": "a.jpg", "content_type": "image/jpeg", "size_bytes": 10}
    assert presign.post("/api/uploads", json=ok, headers=alice.headers).status_code == 201
    png = {"filename": "a.png", "content_type": "image/png", "size_bytes": 10}
    assert (
        _error(presign.post("/api/uploads", json=png, headers=alice.headers), 415)
        == "unsupported_media_type"
    )


def test_quota(function_client: FunctionClient, alice: ApiUser) -> None:
    presign = function_client("presign", USER_QUOTA_BYTES="1000")
    body = {"filename": "a.jpg", "content_type": "image/jpeg", "size_bytes": 600}
    assert presign.post("/api/uploads", json=body, headers=alice.headers).status_code == 201
    over = presign.post("/api/uploads", json=body, headers=alice.headers)
    assert _error(over, 413) == "quota_exceeded"


def test_uploads_need_auth_and_json(presign: FlaskClient, alice: ApiUser) -> None:
    body = {"filename": "a.jpg", "content_type": "image/jpeg", "size_bytes": 10}
    assert _error(presign.post("/api/uploads", json=body), 401) == "unauthorized"
    bad = presign.post(
        "/api/uploads", data=b"{", content_type="application/json", headers=alice.headers
    )
    assert _error(bad, 400) == "bad_request"


def test_another_users_upload_is_404(
    function_client: FunctionClient, alice: ApiUser, bob: ApiUser
) -> None:
    presign = function_client("presign", MULTIPART_THRESHOLD_BYTES=str(10 * MIB))
    body = _start_multipart(presign, alice)
    parts = {"parts": [{"part_number": 1, "etag": "x"}]}
    complete = presign.post(
        f"/api/uploads/{body['media_id']}/complete", json=parts, headers=bob.headers
    )
    assert _error(complete, 404) == "not_found"
    assert (
        _error(presign.delete(f"/api/uploads/{body['media_id']}", headers=bob.headers), 404)
        == "not_found"
    )
    assert (
        presign.delete(f"/api/uploads/{body['media_id']}", headers=alice.headers).status_code == 204
    )


def test_complete_confirms_a_single_put(presign: FlaskClient, alice: ApiUser) -> None:
    body = {"filename": "a.jpg", "content_type": "image/jpeg", "size_bytes": 3}
    started = presign.post("/api/uploads", json=body, headers=alice.headers).get_json()
    early = presign.post(f"/api/uploads/{started['media_id']}/complete", headers=alice.headers)
    assert _error(early, 409) == "upload_incomplete"
    assert httpx.put(started["url"], content=b"abc", headers=started["headers"]).status_code == 200
    done = presign.post(f"/api/uploads/{started['media_id']}/complete", headers=alice.headers)
    assert done.status_code == 200
    assert done.get_json()["id"] == started["media_id"]
