"""`mediavault reconcile`: abandoned uploads are removed, with their multipart parts."""

from __future__ import annotations

import subprocess
import sys

import httpx
from flask.testing import FlaskClient

from mediavault.reconcile import clean_abandoned_uploads
from mediavault.services import Services
from tests.api_fixtures import ApiUser, FunctionClient
from tests.harness import Stack

MIB = 1024 * 1024


def _age(services: Services, media_id: str, hours: int) -> None:
    with services.pool.connection() as conn:
        conn.execute(
            "UPDATE media SET created_at = now() - make_interval(hours => %s) WHERE id = %s",
            (hours, media_id),
        )


def _exists(services: Services, media_id: str) -> bool:
    with services.pool.connection() as conn:
        return conn.execute("SELECT 1 FROM media WHERE id = %s", (media_id,)).fetchone() is not None


def test_old_unfinished_uploads_go_and_recent_or_arrived_ones_stay(
    function_client: FunctionClient, presign: FlaskClient, alice: ApiUser, services: Services
) -> None:
    multipart = function_client("presign", MULTIPART_THRESHOLD_BYTES=str(10 * MIB))
    body = {"filename": "a.mp4", "content_type": "video/mp4", "size_bytes": 12 * MIB}
    old_multipart = multipart.post("/api/uploads", json=body, headers=alice.headers).get_json()
    first = old_multipart["parts"][0]
    assert httpx.put(first["url"], content=b"x" * first["size"]).status_code == 200
    small = {"filename": "b.jpg", "content_type": "image/jpeg", "size_bytes": 3}
    old_single = presign.post("/api/uploads", json=small, headers=alice.headers).get_json()
    arrived = presign.post("/api/uploads", json=small, headers=alice.headers).get_json()
    put = httpx.put(arrived["url"], content=b"abc", headers=arrived["headers"])
    assert put.status_code == 200
    recent = presign.post("/api/uploads", json=small, headers=alice.headers).get_json()
    for upload in (old_multipart, old_single, arrived):
        _age(services, upload["media_id"], hours=48)

    result = clean_abandoned_uploads(services.pool, services.storage, max_age_seconds=24 * 3600)

    assert result.removed >= 2
    assert not _exists(services, old_multipart["media_id"])
    assert not _exists(services, old_single["media_id"])
    assert _exists(services, recent["media_id"])
    assert _exists(services, arrived["media_id"])
    assert arrived["media_id"] in result.arrived
    # The multipart upload itself was aborted: its part URLs no longer take bytes.
    assert httpx.put(first["url"], content=b"y" * first["size"]).status_code == 404


def test_reconcile_command_runs(stack: Stack) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mediavault.cli", "reconcile"],
        env=stack.env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "reconcile:" in result.stderr
