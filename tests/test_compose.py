"""docker/compose.yaml up for real from the built images: sign in, upload, play, down, up."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from tests.compose_fixtures import COMPOSE_FILE, ComposeStack, compose_stack
from tests.harness import poll
from tests.image_fixtures import require_images
from tests.podman import FUNCTIONS_IMAGE, MINIO_IMAGE, PROCESSING_IMAGE
from tests.worker_fixtures import ffprobe, h264_clip, lavfi

READY_SECONDS = 300.0
pytestmark = pytest.mark.timeout(1200)


@pytest.fixture(scope="module")
def stack() -> Iterator[ComposeStack]:
    """The compose project, up; removed with its volumes and network at the end."""
    require_images(FUNCTIONS_IMAGE, PROCESSING_IMAGE, MINIO_IMAGE)
    with compose_stack() as running:
        running.up()
        running.wait_until_serving()
        yield running


def _upload(client: httpx.Client, path: Path, content_type: str) -> str:
    data = path.read_bytes()
    body = {"filename": path.name, "content_type": content_type, "size_bytes": len(data)}
    started = client.post("/api/uploads", json=body)
    assert started.status_code == 201, started.text
    announced = started.json()
    put = httpx.put(announced["url"], content=data, headers=announced["headers"], timeout=60)
    assert put.status_code == 200, put.text
    done = client.post(f"/api/uploads/{announced['media_id']}/complete")
    assert done.status_code == 200, done.text
    return str(announced["media_id"])


def _media(client: httpx.Client, media_id: str) -> dict[str, Any]:
    response = client.get(f"/api/media/{media_id}")
    assert response.status_code == 200, response.text
    item: dict[str, Any] = response.json()
    return item


def _wait_ready(stack: ComposeStack, client: httpx.Client, media_id: str) -> dict[str, Any]:
    try:
        poll(lambda: _media(client, media_id)["status"] in ("ready", "failed"),
             f"media {media_id} through compose", READY_SECONDS)  # fmt: skip
    except AssertionError as error:
        raise AssertionError(stack.logs()) from error
    item = _media(client, media_id)
    assert item["status"] == "ready", f"{item}\n{stack.logs()}"
    return item


def _decoded_frames(path: Path) -> int:
    """Frames ffmpeg decodes from the file (not what its header claims)."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
         "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", str(path)],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    return int(out.strip())


def _play(item: dict[str, Any], into: Path) -> int:
    """Download the playback rendition as a browser would; the frames it decodes to."""
    url = item["urls"]["playback"]
    assert url, item
    response = httpx.get(url, timeout=60)
    assert response.status_code == 200, response.text
    into.write_bytes(response.content)
    [video] = [s for s in ffprobe(into)["streams"] if s["codec_type"] == "video"]
    assert video["codec_name"] == "hevc"
    return _decoded_frames(into)


def test_upload_play_and_keep_everything_across_down_and_up(
    stack: ComposeStack, tmp_path: Path
) -> None:
    health = stack.health()
    assert health["postgres"] == "running/healthy", health
    assert health["init"].startswith("exited"), health
    # The server is the version compose names (a stand-in base image must not be another major).
    version = stack.exec("postgres", "postgres", "--version").split()[-1]
    compose = yaml.safe_load(COMPOSE_FILE.read_text())
    assert compose["services"]["postgres"]["image"].split(":")[1].startswith(version)
    token = stack.token("alice")
    client = httpx.Client(base_url=stack.gateway, timeout=60,
                          headers={"Authorization": f"Bearer {token}"})  # fmt: skip
    me = client.get("/api/auth/me")
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "alice"

    photo = lavfi(tmp_path / "photo.jpg", "-f", "lavfi", "-i", "testsrc2=size=640x480",
                  "-frames:v", "1")  # fmt: skip
    video = h264_clip(tmp_path / "video.mp4", seconds=2.0)
    photo_id = _upload(client, photo, "image/jpeg")
    video_id = _upload(client, video, "video/mp4")
    assert _wait_ready(stack, client, photo_id)["kind"] == "image"
    played = _play(_wait_ready(stack, client, video_id), tmp_path / "played.mp4")
    assert played >= 45  # 2 s at 25 fps, give or take the encoder's edges

    stack.down()
    stack.up()
    stack.wait_until_serving()
    listed = client.get("/api/media")
    assert listed.status_code == 200, listed.text
    kept = {item["id"]: item for item in listed.json()["items"]}
    assert set(kept) == {photo_id, video_id}
    assert all(item["status"] == "ready" for item in kept.values())
    assert _play(_media(client, video_id), tmp_path / "again.mp4") == played
