"""What an upload may send is fixed by the server: sizes, parts, types, quota, request bodies."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import httpx
from flask.testing import FlaskClient

from mediavault.services import Services
from tests.api_fixtures import ApiUser, FunctionClient
from tests.worker_fixtures import RunningWorker, Upload, settled

MIB = 1024 * 1024


def _start(presign: FlaskClient, user: ApiUser, size: int) -> dict[str, Any]:
    body = {"filename": "clip.mp4", "content_type": "video/mp4", "size_bytes": size}
    response = presign.post("/api/uploads", json=body, headers=user.headers)
    assert response.status_code == 201, response.get_data(as_text=True)
    started: dict[str, Any] = response.get_json()
    return started


def test_more_bytes_than_announced_are_refused_by_storage(
    presign: FlaskClient, alice: ApiUser, services: Services
) -> None:
    started = _start(presign, alice, 100)
    put = httpx.put(started["url"], content=os.urandom(20 * MIB), headers=started["headers"])
    assert put.status_code == 403
    assert not services.storage.exists(f"uploads/{started['media_id']}")
    fewer = httpx.put(started["url"], content=os.urandom(99), headers=started["headers"])
    assert fewer.status_code == 403
    done = presign.post(f"/api/uploads/{started['media_id']}/complete", headers=alice.headers)
    assert done.status_code == 409


def test_multipart_part_sizes_and_count_are_the_servers(
    function_client: FunctionClient, alice: ApiUser, services: Services
) -> None:
    presign = function_client(
        "presign", MULTIPART_THRESHOLD_BYTES=str(5 * MIB), MULTIPART_PART_SIZE_BYTES=str(5 * MIB)
    )
    started = _start(presign, alice, 5 * MIB + 10)
    first, last = started["parts"]
    assert (first["size"], last["size"]) == (5 * MIB, 10)
    # A part of another size than its URL fixes is refused by storage.
    assert httpx.put(last["url"], content=os.urandom(5 * MIB)).status_code == 403
    etags = []
    for part in started["parts"]:
        put = httpx.put(part["url"], content=os.urandom(part["size"]))
        assert put.status_code == 200, put.text
        etags.append({"part_number": part["part_number"], "etag": put.headers["ETag"]})
    complete = f"/api/uploads/{started['media_id']}/complete"
    # Completing with a part left out (a smaller file than announced) is refused.
    short = presign.post(complete, json={"parts": etags[:1]}, headers=alice.headers)
    assert short.status_code == 400
    assert presign.post(complete, json={"parts": etags}, headers=alice.headers).status_code == 200
    stored = services.storage.stat(f"uploads/{started['media_id']}")
    assert stored is not None
    assert stored.size == 5 * MIB + 10


def test_refused_uploads_give_their_quota_back(
    worker: RunningWorker, upload: Upload, function_client: FunctionClient, alice: ApiUser,
    services: Services, tmp_path: Path,
) -> None:  # fmt: skip
    presign = function_client("presign", USER_QUOTA_BYTES=str(100_000))
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(60_000))
    media_id = upload(junk, "video/mp4")
    assert settled(services, media_id)["status"] == "failed"
    # 60 KB were refused and deleted: another 60 KB fit within 100 KB.
    _start(presign, alice, 60_000)
    over = presign.post(
        "/api/uploads",
        json={"filename": "b.mp4", "content_type": "video/mp4", "size_bytes": 60_000},
        headers=alice.headers,
    )
    assert over.status_code == 413
    assert over.get_json()["error"]["code"] == "quota_exceeded"


def test_a_huge_request_body_is_refused_before_it_is_read(
    presign: FlaskClient, alice: ApiUser
) -> None:
    body = b'{"filename": "' + b"a" * (2 * MIB) + b'"}'
    response = presign.post(
        "/api/uploads", data=body, content_type="application/json", headers=alice.headers
    )
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "payload_too_large"

    # No Content-Length (a chunked body): reading itself stops at the limit.
    streamed = presign.post(
        "/api/uploads",
        input_stream=io.BytesIO(b" " * (4 * MIB)),
        content_type="application/json",
        headers=alice.headers,
    )
    assert streamed.status_code == 413
    assert streamed.get_json()["error"]["code"] == "payload_too_large"
