"""The worker under load: deleted media stop their ffmpeg, and one user cannot starve another."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from mediavault.services import Services
from mediavault.storage import Storage
from tests.api_fixtures import ApiUser
from tests.harness import poll
from tests.worker_fixtures import RunningWorker, Upload, h264_clip, settled, status_of


def _ffmpeg_pids_reading(marker: str) -> list[int]:
    """Processes whose command line names the marker (a job's scratch directory)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (
                (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
            )
        except OSError:
            continue
        if "ffmpeg" in cmdline and marker in cmdline:
            pids.append(int(entry.name))
    return pids


def test_deleting_a_media_mid_encode_stops_its_ffmpeg_and_keeps_nothing(
    worker: RunningWorker, upload: Upload, media_api: FlaskClient, alice: ApiUser,
    services: Services, admin_storage: Storage, tmp_path: Path,
) -> None:  # fmt: skip
    clip = h264_clip(tmp_path / "long.mp4", seconds=20.0, size="1280x720")
    media_id = upload(clip, "video/mp4")
    poll(lambda: (status_of(services, media_id)["progress"] or 0) > 0.02, "the encode to start", 60)
    scratch = worker.scratch_dir
    assert _ffmpeg_pids_reading(str(scratch))

    assert media_api.delete(f"/api/media/{media_id}", headers=alice.headers).status_code == 204
    # The next heartbeat (1 s in the tests) finds the row gone and kills ffmpeg.
    poll(lambda: not _ffmpeg_pids_reading(str(scratch)), "ffmpeg to be stopped", 10)
    poll(lambda: not any(scratch.glob("job-*")), "the scratch directory to go", 10)
    leftovers = [
        o.object_name
        for prefix in (f"derived/{media_id}/", f"originals/{media_id}")
        for o in admin_storage.client.list_objects(
            admin_storage.bucket, prefix=prefix, recursive=True
        )
    ]
    assert leftovers == []


def test_a_short_clip_is_not_stuck_behind_another_users_long_queue(
    worker: RunningWorker, upload: Upload, alice: ApiUser, bob: ApiUser, services: Services,
    tmp_path: Path,
) -> None:  # fmt: skip
    long_clip = h264_clip(tmp_path / "long.mp4", seconds=20.0, size="1280x720")
    first = upload(long_clip, "video/mp4", user=alice)
    poll(lambda: status_of(services, first)["status"] == "processing", "alice's first job", 60)
    second = upload(long_clip, "video/mp4", user=alice)
    short = upload(h264_clip(tmp_path / "short.mp4", seconds=1.0), "video/mp4", user=bob)

    row = settled(services, short)
    assert row["status"] == "ready", row["error"]
    # Bob's clip did not wait for alice's queue: her second upload had not even started.
    assert status_of(services, second)["status"] == "pending"
    for media_id in (first, second):
        assert settled(services, media_id, deadline=180)["status"] == "ready"
