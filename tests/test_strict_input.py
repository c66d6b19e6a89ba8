"""Malformed input of every kind gets a 4xx JSON error, never a 500: bodies, limits, cursors."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.api_fixtures import ApiUser, FunctionClient

UPLOAD = {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 10}
DEEP = 100_000  # far past Python's recursion limit


def _error(response: Any, status: int) -> dict[str, str]:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    return dict(body["error"])


def _cursor(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_an_unknown_field_is_refused_and_named(presign: FlaskClient, alice: ApiUser) -> None:
    body = {**UPLOAD, "owner_id": str(uuid.uuid4())}
    error = _error(presign.post("/api/uploads", json=body, headers=alice.headers), 400)
    assert error["code"] == "unknown_field"
    assert "owner_id" in error["message"]


@pytest.mark.parametrize(
    ("function", "method", "path", "body", "field"),
    [
        ("presign", "POST", "/api/uploads", {**UPLOAD, "size_bytes": 2**70}, "size_bytes"),
        ("presign", "POST", "/api/uploads", {**UPLOAD, "size_bytes": 1.5}, "size_bytes"),
        ("presign", "POST", "/api/uploads", {**UPLOAD, "title": ["x"]}, "title"),
        ("presign", "POST", f"/api/uploads/{uuid.uuid4()}/complete", {"parts": []}, "parts"),
        (
            "presign", "POST", f"/api/uploads/{uuid.uuid4()}/complete",
            {"parts": [{"part_number": 1, "etag": "e", "size": 5}]}, "size",
        ),
        ("presign", "POST", f"/api/uploads/{uuid.uuid4()}/urls", {"parts": [0]}, "parts"),
        ("presign", "POST", f"/api/uploads/{uuid.uuid4()}/urls", {"part": [1]}, "part"),
        ("media", "PATCH", f"/api/media/{uuid.uuid4()}", {"owner_id": "x"}, "owner_id"),
        ("media", "PATCH", f"/api/media/{uuid.uuid4()}", {"tags": "a,b"}, "tags"),
        ("media", "PATCH", f"/api/media/{uuid.uuid4()}", {"tags": ["t"] * 51}, "tags"),
        ("collections", "POST", "/api/collections", {"title": "t", "cover": "x"}, "cover"),
        ("collections", "POST", "/api/collections", {"title": None}, "title"),
        ("collections", "PATCH", f"/api/collections/{uuid.uuid4()}", {"title": ""}, "title"),
        (
            "collections", "POST", f"/api/collections/{uuid.uuid4()}/shares",
            {"expires_in_seconds": 10}, "expires_in_seconds",
        ),
        (
            "collections", "POST", f"/api/collections/{uuid.uuid4()}/shares",
            {"allow_download": "yes"}, "allow_download",
        ),
    ],
)  # fmt: skip
def test_bodies_are_held_to_their_declarations(
    function_client: FunctionClient,
    alice: ApiUser,
    function: str,
    method: str,
    path: str,
    body: dict[str, Any],
    field: str,
) -> None:
    client = function_client(function)
    response = client.open(path, method=method, json=body, headers=alice.headers)
    error = _error(response, 400)
    assert field in error["message"]


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * DEEP + b"]" * DEEP,
        b'{"filename": ' + b"[" * DEEP + b"]" * DEEP + b"}",
        b'{"junk": ' + b'{"a":' * DEEP + b"1" + b"}" * DEEP + b"}",
        b"{" * DEEP,
        b"",
        b"null",
        b'"text"',
        b"\xff\xfe",
    ],
    ids=[
        "deep-array", "deep-field", "deep-unknown-field", "unclosed", "empty", "null", "str",
        "bytes",
    ],
)  # fmt: skip
def test_deep_or_broken_json_is_a_400(presign: FlaskClient, alice: ApiUser, raw: bytes) -> None:
    response = presign.post(
        "/api/uploads", data=raw, content_type="application/json", headers=alice.headers
    )
    assert _error(response, 400)["code"] in {"bad_request", "unknown_field", "invalid_filename"}


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None],
)
def test_bodies_must_be_json(
    presign: FlaskClient, alice: ApiUser, content_type: str | None
) -> None:
    headers = {**alice.headers, **({"Content-Type": content_type} if content_type else {})}
    response = presign.post("/api/uploads", data=b'{"filename": "a.mp4"}', headers=headers)
    assert _error(response, 415)["code"] == "json_required"


def test_json_with_a_charset_is_json(presign: FlaskClient, alice: ApiUser) -> None:
    response = presign.post(
        "/api/uploads",
        data=json.dumps(UPLOAD),
        headers={**alice.headers, "Content-Type": "application/json; charset=utf-8"},
    )
    assert response.status_code == 201, response.get_data(as_text=True)


@pytest.mark.parametrize("path", ["/api/media", "/api/collections"])
# Superscript two and Arabic-Indic one: str.isdigit() says yes, int() disagrees or surprises.
@pytest.mark.parametrize(
    "limit", ["\u00b2", "\u0661", "1e2", "0x10", "-1", "0", "101", " 5", "5 ", "9" * 5000]
)
def test_limit_is_parsed_strictly(
    function_client: FunctionClient, alice: ApiUser, path: str, limit: str
) -> None:
    client = function_client(path.split("/")[2])
    response = client.get(path, query_string={"limit": limit}, headers=alice.headers)
    assert _error(response, 400)["code"] == "bad_request"


@pytest.mark.parametrize("path", ["/api/media", "/api/collections"])
@pytest.mark.parametrize(
    "cursor",
    [
        _cursor(b"5"),
        _cursor(b"123456789012345678901234567890"),
        _cursor(b'["2026-01-01T00:00:00+00:00", 5]'),
        _cursor(b'[5, "6f1e3c1e-8a52-4b8e-9a43-3c8a2b1c0d9e"]'),
        _cursor(b'["2026-01-01T00:00:00", "6f1e3c1e-8a52-4b8e-9a43-3c8a2b1c0d9e"]'),
        _cursor(b'["2026-01-01T00:00:00+00:00", "not-a-uuid"]'),
        _cursor(b'{"created_at": "2026-01-01T00:00:00+00:00"}'),
        _cursor(b"[" * 120),
        _cursor(b"\xff\xfe"),
        "not base64 at all!",
        "A" * 5000,
        "===",
    ],
    ids=[
        "int", "big-int", "id-int", "time-int", "naive-time", "bad-uuid", "object", "deep",
        "bytes", "garbage", "long", "padding",
    ],
)  # fmt: skip
def test_a_cursor_that_is_not_ours_is_a_400(
    function_client: FunctionClient, alice: ApiUser, path: str, cursor: str
) -> None:
    client = function_client(path.split("/")[2])
    response = client.get(path, query_string={"cursor": cursor}, headers=alice.headers)
    assert _error(response, 400)["code"] == "invalid_cursor"
