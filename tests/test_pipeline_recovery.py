"""No upload is lost: a killed worker, an nsqd outage and a lost event all still end `ready`."""

from __future__ import annotations

import uuid
from pathlib import Path

from mediavault.reconcile import requeue_stuck
from mediavault.services import Services
from tests.api_fixtures import ApiUser
from tests.conftest import Plant
from tests.harness import Stack, poll
from tests.worker_fixtures import RunningWorker, Upload, h264_clip, settled, status_of


def test_a_worker_killed_mid_encode_does_not_lose_the_upload(
    worker: RunningWorker, upload: Upload, services: Services, tmp_path: Path
) -> None:
    clip = h264_clip(tmp_path / "long.mp4", seconds=10.0, size="1280x720")
    media_id = upload(clip, "video/mp4")
    poll(lambda: (status_of(services, media_id)["progress"] or 0) > 0.05, "the encode to start", 60)
    dead = worker.kill()
    try:
        assert status_of(services, media_id)["status"] == "processing"
        assert list(worker.scratch_dir.glob(f"job-{dead}-*"))  # SIGKILL left its files behind
    finally:
        worker.start()
    assert not list(worker.scratch_dir.glob(f"job-{dead}-*"))  # the new worker cleared them
    row = settled(services, media_id, deadline=120)
    assert row["status"] == "ready", row["error"]
    assert row["attempts"] == 2  # the dead worker's attempt, then the one that finished


def test_an_upload_during_an_nsqd_outage_is_delivered_from_minios_queue(
    stack: Stack, worker: RunningWorker, upload: Upload, services: Services, tmp_path: Path
) -> None:
    nsqd = stack.processes.running["nsqd"]
    queue_dir = stack.layout.data_dir / "minio-events"
    clip = h264_clip(tmp_path / "outage.mp4", seconds=1.0)
    nsqd.stop()
    try:
        media_id = upload(clip, "video/mp4", complete=False)  # only MinIO's queued event
        poll(lambda: any(p.is_file() for p in queue_dir.rglob("*")), "MinIO to queue the event", 30)
        assert status_of(services, media_id)["status"] == "pending"
    finally:
        stack.processes.start(nsqd.spec)
    row = settled(services, media_id, deadline=120)
    assert row["status"] == "ready", row["error"]


def test_reconcile_picks_up_a_pending_upload_whose_event_was_lost(
    stack: Stack, worker: RunningWorker, alice: ApiUser, services: Services, plant: Plant,
    tmp_path: Path,
) -> None:  # fmt: skip
    # An upload presigned before staging keys existed: its bytes sit where no event comes from.
    media_id = str(uuid.uuid4())
    key = f"originals/{media_id}.mp4"
    data = h264_clip(tmp_path / "lost.mp4", seconds=1.0).read_bytes()
    plant(key, data, "video/mp4")
    with services.pool.connection() as conn:
        conn.execute(
            "INSERT INTO media (id, owner_id, filename, content_type, size_bytes, upload_key,"
            " original_key) VALUES (%s, %s, 'lost.mp4', 'video/mp4', %s, %s, %s)",
            (media_id, alice.id, len(data), key, key),
        )
    assert status_of(services, media_id)["status"] == "pending"

    requeued = requeue_stuck(services.pool, services.storage, stack.settings.queue,
                             pending_after=0, stale_after=60)  # fmt: skip
    assert media_id in requeued
    row = settled(services, media_id)
    assert row["status"] == "ready", row["error"]
    assert row["original_key"] == key
