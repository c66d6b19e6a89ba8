"""Faults that recover with no human step: nsqd killed, a silent job among thousands of uploads."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from mediavault.devstack.services import ServiceSpec
from mediavault.services import Services
from tests.api_fixtures import ApiUser
from tests.conftest import Plant
from tests.harness import ProcessGroup, Stack, poll
from tests.worker_fixtures import RunningWorker, Upload, h264_clip, settled, status_of


@pytest.fixture
def scheduled_reconcile(stack: Stack) -> Iterator[None]:
    """`mediavault reconcile --every 2`, as the dev stack and the CronJob run it."""
    spec = ServiceSpec(
        "reconcile",
        (str(stack.binaries.python_bin / "mediavault"), "reconcile", "--every=2"),
        env=stack.layout.worker_env(),
    )
    processes = ProcessGroup(stack.layout.data_dir, stack.env)
    processes.start(spec)
    try:
        yield
    finally:
        processes.stop_all()


def test_nsqd_killed_with_queued_events_loses_none(
    stack: Stack, worker: RunningWorker, upload: Upload, services: Services, tmp_path: Path
) -> None:
    worker.kill()
    try:
        clips = [h264_clip(tmp_path / f"queued-{n}.mp4", seconds=0.5) for n in range(5)]
        media_ids = [upload(clip, "video/mp4") for clip in clips]  # each `complete` publishes
        nsqd = stack.processes.running["nsqd"]
        nsqd.process.kill()  # SIGKILL: nothing is flushed on the way out
        nsqd.process.wait(10)
        stack.processes.start(nsqd.spec)
    finally:
        worker.start()
    for media_id in media_ids:
        row = settled(services, media_id, deadline=120)
        assert row["status"] == "ready", row["error"]


def test_a_silent_job_is_found_among_ten_thousand_abandoned_uploads(
    worker: RunningWorker, scheduled_reconcile: None, alice: ApiUser, services: Services,
    plant: Plant, tmp_path: Path,
) -> None:  # fmt: skip
    with services.pool.connection() as conn:
        conn.execute(
            "INSERT INTO media (owner_id, filename, content_type, kind, size_bytes, upload_key,"
            " created_at, updated_at) SELECT %s, 'gone.mp4', 'video/mp4', 'video', 10,"
            " 'uploads/abandoned-' || g, now() - interval '1 hour', now() - interval '1 hour'"
            " FROM generate_series(1, 10000) g",
            (alice.id,),
        )
    # A job whose worker died long ago, its checked original in place (no event will come).
    media_id = str(uuid.uuid4())
    data = h264_clip(tmp_path / "stuck.mp4", seconds=1.0).read_bytes()
    key = f"originals/{media_id}.mp4"
    plant(key, data, "video/mp4")
    with services.pool.connection() as conn:
        conn.execute(
            "INSERT INTO media (id, owner_id, filename, content_type, kind, size_bytes,"
            " upload_key, original_key, status) VALUES (%s, %s, 'stuck.mp4', 'video/mp4',"
            " 'video', %s, %s, %s, 'processing')",
            (media_id, alice.id, len(data), f"uploads/{media_id}", key),
        )
        conn.execute(
            "INSERT INTO processing_jobs (media_id, state, attempts, heartbeat_at)"
            " VALUES (%s, 'running', 1, now() - interval '1 hour')",
            (media_id,),
        )
    try:
        row = settled(services, media_id, deadline=90)
        assert row["status"] == "ready", row["error"]
    finally:
        with services.pool.connection() as conn:
            conn.execute("DELETE FROM media WHERE upload_key LIKE 'uploads/abandoned-%%'")


def test_a_restarted_worker_takes_back_its_jobs_at_once(
    worker: RunningWorker, upload: Upload, services: Services, tmp_path: Path
) -> None:
    clip = h264_clip(tmp_path / "long.mp4", seconds=10.0, size="1280x720")
    media_id = upload(clip, "video/mp4")
    poll(lambda: (status_of(services, media_id)["progress"] or 0) > 0.05, "the encode to start", 60)
    worker.kill()
    worker.start()
    # Taken back when the worker starts: no wait for the heartbeat to go stale.
    poll(lambda: status_of(services, media_id)["attempts"] == 2, "the job taken back", 10)
    row = settled(services, media_id, deadline=120)
    assert row["status"] == "ready", row["error"]
