"""POST /api/uploads/{id}/urls: fresh URLs for an upload being sent, signed as at its start."""

from __future__ import annotations

import base64
import hashlib
import os
from typing import Any

import httpx
from flask.testing import FlaskClient

from tests.api_fixtures import ApiUser, FunctionClient

MIB = 1024 * 1024


def _error(response: Any, status: int) -> str:
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body["error"]) == {"code", "message"}
    return str(body["error"]["code"])


def _multipart(function_client: FunctionClient) -> FlaskClient:
    return function_client(
        "presign", MULTIPART_THRESHOLD_BYTES=str(10 * MIB), MULTIPART_PART_SIZE_BYTES=str(5 * MIB)
    )


def _start(presign: FlaskClient, user: ApiUser, payload: bytes, **extra: Any) -> dict[str, Any]:
    body = {"filename": "big.mp4", "content_type": "video/mp4", "size_bytes": len(payload)}
    response = presign.post("/api/uploads", json={**body, **extra}, headers=user.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    started: dict[str, Any] = response.get_json()
    return started


def _urls(presign: FlaskClient, user: ApiUser, media_id: str, **kwargs: Any) -> Any:
    return presign.post(f"/api/uploads/{media_id}/urls", headers=user.headers, **kwargs)


def _put_part(
    part: dict[str, Any], part_size: int, payload: bytes, *, checksum: bool = False
) -> dict[str, Any]:
    start = (part["part_number"] - 1) * part_size
    chunk = payload[start : start + part["size"]]
    headers = {}
    if checksum:
        headers["x-amz-checksum-sha256"] = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
    put = httpx.put(part["url"], content=chunk, headers=headers)
    assert put.status_code == 200, put.text
    return {"part_number": part["part_number"], "etag": put.headers["ETag"]}


def test_fresh_part_urls_finish_a_multipart_upload(
    function_client: FunctionClient, alice: ApiUser
) -> None:
    presign = _multipart(function_client)
    payload = os.urandom(10 * MIB + 1000)
    started = _start(presign, alice, payload)
    first = _put_part(started["parts"][0], started["part_size"], payload)

    response = _urls(presign, alice, started["media_id"])

    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"
    fresh = response.get_json()
    assert set(fresh) == {"media_id", "upload_id", "part_size", "parts", "expires_at"}
    assert (fresh["media_id"], fresh["upload_id"]) == (started["media_id"], started["upload_id"])
    sizes = [(p["part_number"], p["size"]) for p in fresh["parts"]]
    assert sizes == [(p["part_number"], p["size"]) for p in started["parts"]]
    assert fresh["expires_at"] >= started["expires_at"]
    rest = [_put_part(part, fresh["part_size"], payload) for part in fresh["parts"][1:]]
    done = presign.post(
        f"/api/uploads/{started['media_id']}/complete",
        json={"parts": [first, *rest]},
        headers=alice.headers,
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    # Assembled: nothing is left to send, so no URLs either.
    assert _error(_urls(presign, alice, started["media_id"]), 404) == "not_found"


def test_only_the_parts_asked_for_and_the_checksum_rule_kept(
    function_client: FunctionClient, alice: ApiUser
) -> None:
    presign = _multipart(function_client)
    payload = os.urandom(10 * MIB + 1000)
    started = _start(presign, alice, payload, sha256=hashlib.sha256(payload).hexdigest())

    response = _urls(presign, alice, started["media_id"], json={"parts": [3, 2]})

    assert response.status_code == 200, response.get_data(as_text=True)
    fresh = response.get_json()
    assert fresh["checksum_algorithm"] == "SHA256"
    assert [p["part_number"] for p in fresh["parts"]] == [2, 3]
    part = fresh["parts"][0]
    # Still signed for a checksummed upload: a part without its own checksum is refused.
    assert httpx.put(part["url"], content=payload[5 * MIB : 10 * MIB]).status_code == 400
    _put_part(part, fresh["part_size"], payload, checksum=True)
    for wrong in ([4], [1, 1], [0], []):
        assert _error(_urls(presign, alice, started["media_id"], json={"parts": wrong}), 400)
    aborted = presign.delete(f"/api/uploads/{started['media_id']}", headers=alice.headers)
    assert aborted.status_code == 204


def test_another_users_or_an_unknown_or_aborted_upload_is_404(
    function_client: FunctionClient, alice: ApiUser, bob: ApiUser
) -> None:
    presign = _multipart(function_client)
    started = _start(presign, alice, b"x" * (11 * MIB))
    media_id = started["media_id"]

    assert _error(_urls(presign, bob, media_id), 404) == "not_found"
    unknown = "00000000-0000-4000-8000-000000000000"
    assert _error(_urls(presign, alice, unknown), 404) == "not_found"
    assert _urls(presign, alice, media_id).status_code == 200
    assert presign.delete(f"/api/uploads/{media_id}", headers=alice.headers).status_code == 204
    gone = _urls(presign, alice, media_id)
    assert _error(gone, 404) == "not_found"
    assert gone.get_json()["error"]["message"] == "no such upload"


def test_a_single_put_is_signed_again_for_the_same_type_and_size(
    presign: FlaskClient, alice: ApiUser
) -> None:
    payload = os.urandom(3000)
    started = _start(presign, alice, payload)
    assert "url" in started

    response = _urls(presign, alice, started["media_id"])

    assert response.status_code == 200, response.get_data(as_text=True)
    fresh = response.get_json()
    assert set(fresh) == {"media_id", "method", "url", "headers", "expires_at"}
    assert fresh["method"] == "PUT"
    assert fresh["headers"] == started["headers"]
    assert _error(_urls(presign, alice, started["media_id"], json={"parts": [1]}), 400)
    other_type = {**fresh["headers"], "Content-Type": "image/png"}
    assert httpx.put(fresh["url"], content=payload, headers=other_type).status_code == 403
    shorter = httpx.put(fresh["url"], content=payload[:-1], headers=fresh["headers"])
    assert shorter.status_code == 403
    put = httpx.put(fresh["url"], content=payload, headers=fresh["headers"])
    assert put.status_code == 200, put.text
    done = presign.post(f"/api/uploads/{started['media_id']}/complete", headers=alice.headers)
    assert done.status_code == 200, done.get_data(as_text=True)
    # The bytes are there: no more URLs to overwrite them with.
    assert _error(_urls(presign, alice, started["media_id"]), 404) == "not_found"
