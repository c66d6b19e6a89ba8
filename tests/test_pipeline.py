"""Uploads through the API to `ready` with the real worker, MinIO's events and ffmpeg."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from flask.testing import FlaskClient

from mediavault.queue import object_created_message, publish
from mediavault.services import Services
from tests.api_fixtures import ApiUser
from tests.harness import Stack
from tests.test_processing_helpers import top_level_boxes
from tests.worker_fixtures import (
    RunningWorker,
    Upload,
    ffprobe,
    h264_clip,
    lavfi,
    settled,
)


def _download(url: str, path: Path) -> Path:
    response = httpx.get(url)
    assert response.status_code == 200
    path.write_bytes(response.content)
    return path


def test_a_video_becomes_a_playable_hevc_file(
    worker: RunningWorker, upload: Upload, media_api: FlaskClient, alice: ApiUser,
    services: Services, tmp_path: Path,
) -> None:  # fmt: skip
    source = h264_clip(tmp_path / "clip.mp4", seconds=2.0, size="320x240")
    media_id = upload(source, "video/mp4")
    row = settled(services, media_id)
    assert row["status"] == "ready", row["error"]
    assert row["encoder"] == "libx265"
    assert row["attempts"] == 1

    body = media_api.get(f"/api/media/{media_id}", headers=alice.headers).get_json()
    assert body["kind"] == "video"
    assert (body["width"], body["height"]) == (320, 240)
    assert body["video_codec"] == "hevc"
    assert body["processing"]["progress"] == 1.0
    playback = _download(body["urls"]["playback"], tmp_path / "playback.mp4")
    report = ffprobe(playback)
    video = next(s for s in report["streams"] if s["codec_type"] == "video")
    assert video["codec_name"] == "hevc"
    assert video["codec_tag_string"] == "hvc1"
    assert any(s["codec_type"] == "audio" for s in report["streams"])
    boxes = top_level_boxes(playback)
    assert boxes.index("moov") < boxes.index("mdat")
    source_duration = float(ffprobe(source)["format"]["duration"])
    assert abs(float(report["format"]["duration"]) - source_duration) <= 0.1

    thumb = _download(body["urls"]["thumbnail"], tmp_path / "thumb.jpg")
    picture = ffprobe(thumb)["streams"][0]
    assert (picture["width"], picture["height"]) == (320, 240)  # long edge 320, never upscaled


def test_an_image_gets_dimensions_and_a_thumbnail_but_no_hevc(
    worker: RunningWorker, upload: Upload, media_api: FlaskClient, alice: ApiUser,
    services: Services, tmp_path: Path,
) -> None:  # fmt: skip
    image = lavfi(
        tmp_path / "photo.jpg", "-f", "lavfi", "-i", "testsrc2=size=800x600", "-frames:v", "1"
    )
    media_id = upload(image, "image/jpeg")
    row = settled(services, media_id)
    assert row["status"] == "ready", row["error"]
    assert (row["width"], row["height"]) == (800, 600)
    assert row["playback_key"] is None
    body = media_api.get(f"/api/media/{media_id}", headers=alice.headers).get_json()
    assert body["kind"] == "image"
    thumb = _download(body["urls"]["thumbnail"], tmp_path / "thumb.webp")
    assert ffprobe(thumb)["streams"][0]["width"] == 320
    # What is shown is the preview (upright, sRGB, a format every browser reads); the original
    # stays a download.
    assert body["urls"]["playback"] == body["urls"]["preview"] != body["urls"]["original"]


def test_random_bytes_fail_with_a_reason_and_leave_no_bytes(
    worker: RunningWorker, upload: Upload, media_api: FlaskClient, alice: ApiUser,
    services: Services, tmp_path: Path,
) -> None:  # fmt: skip
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(os.urandom(64 * 1024))
    media_id = upload(junk, "video/mp4")
    row = settled(services, media_id)
    assert row["status"] == "failed"
    assert row["error"].startswith("not a photo, video or audio file in a format we accept")
    assert "Traceback" not in row["error"]
    # Refused bytes are deleted; the row keeps the reason and no longer counts against a quota.
    assert (row["upload_key"], row["original_key"]) == (None, None)
    assert not services.storage.exists(f"uploads/{media_id}")
    body = media_api.get(f"/api/media/{media_id}", headers=alice.headers).get_json()
    assert set(body["urls"].values()) == {None}
    retry = media_api.post(f"/api/media/{media_id}/retry", headers=alice.headers)
    assert retry.status_code == 409


def test_hevc_input_is_not_encoded_again(
    worker: RunningWorker, upload: Upload, services: Services, tmp_path: Path
) -> None:
    clip = lavfi(
        tmp_path / "already.mp4",
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1",
        "-c:v", "libx265", "-preset", "ultrafast", "-tag:v", "hvc1", "-pix_fmt", "yuv420p",
        "-movflags", "+faststart", "-x265-params", "log-level=error",
    )  # fmt: skip
    media_id = upload(clip, "video/mp4")
    row = settled(services, media_id)
    assert row["status"] == "ready", row["error"]
    assert row["encoder"] is None
    assert row["playback_key"] is None
    assert row["video_codec"] == "hevc"


def test_a_duplicate_event_makes_one_job(
    stack: Stack, worker: RunningWorker, upload: Upload, services: Services, tmp_path: Path
) -> None:
    media_id = upload(h264_clip(tmp_path / "twice.mp4", seconds=1.0), "video/mp4")
    row = settled(services, media_id)
    message = object_created_message(
        services.storage.bucket, row["original_key"], row["size_bytes"]
    )
    publish(stack.settings.queue, message)
    publish(stack.settings.queue, message)
    # A marker upload after the duplicates: once it is done, the duplicates were consumed.
    marker = upload(h264_clip(tmp_path / "marker.mp4", seconds=0.5), "video/mp4")
    settled(services, marker)
    again = settled(services, media_id)
    assert again["status"] == "ready"
    assert again["attempts"] == 1


def test_retry_of_a_failed_item(
    worker: RunningWorker, upload: Upload, media_api: FlaskClient, alice: ApiUser,
    bob: ApiUser, services: Services, tmp_path: Path,
) -> None:  # fmt: skip
    media_id = upload(h264_clip(tmp_path / "retry.mp4", seconds=1.0), "video/mp4")
    settled(services, media_id)
    assert media_api.post(f"/api/media/{media_id}/retry", headers=alice.headers).status_code == 409
    with services.pool.connection() as conn:
        conn.execute(
            "UPDATE media SET status = 'failed', error = 'disk full' WHERE id = %s", (media_id,)
        )
    assert media_api.post(f"/api/media/{media_id}/retry", headers=bob.headers).status_code == 404
    response = media_api.post(f"/api/media/{media_id}/retry", headers=alice.headers)
    assert response.status_code == 202
    assert response.get_json()["status"] in ("pending", "processing")  # the worker may be quick
    row = settled(services, media_id)
    assert row["status"] == "ready"
    assert row["error"] is None
    assert row["attempts"] == 1
