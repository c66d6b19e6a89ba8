"""End-to-end checksums: storage and the worker refuse other bytes; duplicates per user."""

from __future__ import annotations

import base64
import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from mediavault.services import Services
from mediavault.storage import Storage
from tests.api_fixtures import ApiUser, FunctionClient
from tests.harness import Stack
from tests.worker_fixtures import RunningWorker, Upload, lavfi, settled

MIB = 1024 * 1024


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _b64(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def _start(presign: FlaskClient, user: ApiUser, size: int, sha256: str, **extra: Any) -> Any:
    body = {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": size,
            "sha256": sha256, **extra}  # fmt: skip
    return presign.post("/api/uploads", json=body, headers=user.headers)


def _stored(storage: Storage, key: str) -> bytes | None:
    if storage.stat(key) is None:
        return None
    response = storage.client.get_object(storage.bucket, key)
    try:
        return response.read()
    finally:
        response.close()


def test_a_single_put_takes_only_the_announced_bytes(
    presign: FlaskClient, alice: ApiUser, services: Services
) -> None:
    payload = os.urandom(4096)
    response = _start(presign, alice, len(payload), _sha(payload).upper())
    assert response.status_code == 201, response.get_data(as_text=True)
    body = response.get_json()
    assert body["headers"]["x-amz-checksum-sha256"] == _b64(payload)
    forged = httpx.put(body["url"], content=os.urandom(len(payload)), headers=body["headers"])
    assert forged.status_code == 400
    key = f"uploads/{body['media_id']}"
    assert _stored(services.storage, key) is None
    assert httpx.put(body["url"], content=payload, headers=body["headers"]).status_code == 200
    assert _stored(services.storage, key) == payload


def test_an_announced_checksum_whose_bytes_never_came_is_no_duplicate(
    presign: FlaskClient, alice: ApiUser
) -> None:
    payload = os.urandom(64)
    phantom = _start(presign, alice, len(payload), _sha(payload))
    assert phantom.status_code == 201
    # The real upload of the same file is an upload, not "already in the vault".
    real = _start(presign, alice, len(payload), _sha(payload))
    assert real.status_code == 201, real.get_json()
    started = real.get_json()
    assert started["media_id"] != phantom.get_json()["media_id"]
    # Once its bytes are stored (storage checked them against the checksum), it is the one.
    put = httpx.put(started["url"], content=payload, headers=started["headers"])
    assert put.status_code == 200
    done = presign.post(f"/api/uploads/{started['media_id']}/complete", headers=alice.headers)
    assert done.status_code in (200, 202, 204), done.get_data(as_text=True)
    again = _start(presign, alice, len(payload), _sha(payload))
    assert again.status_code == 200
    assert again.get_json() == {"duplicate_of": started["media_id"]}


def test_a_checked_file_is_a_duplicate_for_its_owner_only(
    presign: FlaskClient, alice: ApiUser, bob: ApiUser, services: Services
) -> None:
    digest = _sha(os.urandom(64))
    first = _start(presign, alice, 64, digest)
    assert first.status_code == 201
    media_id = first.get_json()["media_id"]
    with services.pool.connection() as conn:  # as the worker leaves it once the bytes check out
        conn.execute(
            "UPDATE media SET status = 'ready', sha256 = announced_sha256, upload_key = NULL,"
            " original_key = 'originals/x' WHERE id = %s",
            (media_id,),
        )

    again = _start(presign, alice, 64, digest)
    assert again.status_code == 200
    assert again.get_json() == {"duplicate_of": media_id}
    with services.pool.connection() as conn:
        count = conn.execute(
            "SELECT count(*) AS n FROM media WHERE owner_id = %s", (alice.id,)
        ).fetchone()
    assert count is not None
    assert count["n"] == 1  # the duplicate answer started nothing

    copy = _start(presign, alice, 64, digest, keep_duplicate=True)
    assert copy.status_code == 201
    assert copy.get_json()["media_id"] != media_id
    # Another user's identical file is theirs to upload: nothing of Alice's is revealed.
    other = _start(presign, bob, 64, digest)
    assert other.status_code == 201
    assert "duplicate_of" not in other.get_json()


@pytest.mark.parametrize(
    "extra",
    [
        {"sha256": "abc"},
        {"sha256": "g" * 64},
        {"sha256": 12},
        {"sha256": "a" * 65},
        {"sha256": "a" * 64, "keep_duplicate": "yes"},
    ],
)
def test_malformed_checksums_are_400(
    presign: FlaskClient, alice: ApiUser, extra: dict[str, Any]
) -> None:
    body = {"filename": "a.jpg", "content_type": "image/jpeg", "size_bytes": 10, **extra}
    response = presign.post("/api/uploads", json=body, headers=alice.headers)
    assert response.status_code == 400, response.get_data(as_text=True)


def _multipart(function_client: FunctionClient) -> FlaskClient:
    return function_client(
        "presign", MULTIPART_THRESHOLD_BYTES=str(10 * MIB), MULTIPART_PART_SIZE_BYTES=str(5 * MIB)
    )


def _put_parts(body: dict[str, Any], payload: bytes) -> list[dict[str, Any]]:
    """PUT every part with its own checksum, as a client does; the parts for `complete`."""
    etags = []
    for part in body["parts"]:
        start = (part["part_number"] - 1) * body["part_size"]
        chunk = payload[start : start + part["size"]]
        put = httpx.put(part["url"], content=chunk, headers={"x-amz-checksum-sha256": _b64(chunk)})
        assert put.status_code == 200, put.text
        etags.append({"part_number": part["part_number"], "etag": put.headers["ETag"]})
    return etags


def test_multipart_parts_are_checked_against_their_own_checksums(
    function_client: FunctionClient, alice: ApiUser, services: Services
) -> None:
    presign = _multipart(function_client)
    payload = os.urandom(10 * MIB + 1234)
    response = _start(presign, alice, len(payload), _sha(payload))
    assert response.status_code == 201
    body = response.get_json()
    assert body["checksum_algorithm"] == "SHA256"
    first = body["parts"][0]
    chunk = payload[: first["size"]]
    assert httpx.put(first["url"], content=chunk).status_code == 400  # no checksum: refused
    wrong = httpx.put(
        first["url"], content=os.urandom(len(chunk)), headers={"x-amz-checksum-sha256": _b64(chunk)}
    )
    assert wrong.status_code == 400
    assert "Checksum" in wrong.text

    parts = _put_parts(body, payload)
    done = presign.post(
        f"/api/uploads/{body['media_id']}/complete", json={"parts": parts}, headers=alice.headers
    )
    assert done.status_code == 200, done.get_data(as_text=True)
    assert _stored(services.storage, f"uploads/{body['media_id']}") == payload


def test_the_worker_fails_bytes_that_are_not_the_announced_ones(
    worker: RunningWorker,
    function_client: FunctionClient,
    media_api: FlaskClient,
    alice: ApiUser,
    services: Services,
) -> None:
    presign = _multipart(function_client)
    announced = os.urandom(10 * MIB + 10)
    sent = bytearray(announced)
    sent[-1] ^= 0xFF  # one byte differs; each part still carries its own (honest) checksum
    body = _start(presign, alice, len(announced), _sha(announced)).get_json()
    parts = _put_parts(body, bytes(sent))
    done = presign.post(
        f"/api/uploads/{body['media_id']}/complete", json={"parts": parts}, headers=alice.headers
    )
    assert done.status_code == 200

    row = settled(services, body["media_id"])
    assert row["status"] == "failed"
    assert "checksum mismatch" in row["error"]
    assert _sha(announced) in row["error"]
    assert row["upload_key"] is None  # the refused bytes are gone, like any refused upload
    assert _stored(services.storage, f"uploads/{body['media_id']}") is None
    shown = media_api.get(f"/api/media/{body['media_id']}", headers=alice.headers).get_json()
    assert shown["sha256"] is None
    assert shown["urls"]["original"] is None
    # A failed item holds nothing: the same file may be uploaded again.
    assert _start(presign, alice, len(announced), _sha(announced)).status_code == 201


def _photo(tmp_path: Path, name: str = "photo.jpg", colour: str = "red") -> Path:
    return lavfi(tmp_path / name, "-f", "lavfi", "-i", f"color={colour}:size=64x48",
                 "-frames:v", "1")  # fmt: skip


def test_every_original_gets_its_checksum_and_the_media_shows_it(
    worker: RunningWorker,
    presign: FlaskClient,
    upload: Upload,
    media_api: FlaskClient,
    alice: ApiUser,
    services: Services,
    tmp_path: Path,
) -> None:
    unannounced = _photo(tmp_path, "plain.jpg", "blue")
    media_id = upload(unannounced, "image/jpeg")
    data = _photo(tmp_path, "announced.jpg", "green").read_bytes()
    started = _start(presign, alice, len(data), _sha(data), content_type="image/jpeg").get_json()
    put = httpx.put(started["url"], content=data, headers=started["headers"])
    assert put.status_code == 200
    presign.post(f"/api/uploads/{started['media_id']}/complete", headers=alice.headers)

    for mid, source in ((media_id, unannounced.read_bytes()), (started["media_id"], data)):
        row = settled(services, mid)
        assert row["status"] == "ready", row["error"]
        assert row["sha256"] == _sha(source)
        shown = media_api.get(f"/api/media/{mid}", headers=alice.headers).get_json()
        assert shown["sha256"] == _sha(source)
    # A checked file is found as a duplicate by its checksum, announced or not.
    plain = _start(presign, alice, 10, _sha(unannounced.read_bytes()))
    assert plain.get_json() == {"duplicate_of": media_id}


def test_reconcile_fills_checksums_of_earlier_originals(
    worker: RunningWorker,
    upload: Upload,
    alice: ApiUser,
    services: Services,
    admin_storage: Storage,
    stack: Stack,
    tmp_path: Path,
) -> None:
    photos = [_photo(tmp_path, f"old{n}.jpg", colour) for n, colour in enumerate(("red", "navy"))]
    ids = [upload(photo, "image/jpeg") for photo in photos]
    rows = [settled(services, media_id) for media_id in ids]
    assert all(row["status"] == "ready" for row in rows)
    # As rows stored before migration 0006 are: ready, without a checksum; one lost its file.
    with services.pool.connection() as conn:
        conn.execute("UPDATE media SET sha256 = NULL WHERE id = ANY(%s::uuid[])", (ids,))
    admin_storage.remove([rows[0]["original_key"]])

    result = subprocess.run(
        [sys.executable, "-m", "mediavault.cli", "reconcile"],
        env={**stack.env, **stack.layout.worker_env()},
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr

    with services.pool.connection() as conn:
        found = {
            str(row["id"]): row["sha256"]
            for row in conn.execute(
                "SELECT id, sha256 FROM media WHERE id = ANY(%s::uuid[])", (ids,)
            ).fetchall()
        }
    assert found[ids[0]] is None  # its original is missing: skipped, not blocking the others
    assert found[ids[1]] == _sha(photos[1].read_bytes())
