"""The images of docker/ run as production runs them: non-root, read-only, only /tmp writable.

`make images` builds them (scripts/build_images.sh); these tests run what it built with podman.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from minio import Minio

from mediavault.devstack.layout import default_tools_dir
from mediavault.routes import FUNCTIONS
from tests.harness import free_port, function_client, poll
from tests.image_fixtures import ImageStack, answers_200, container_env, require_images
from tests.podman import (
    APP_UID,
    FUNCTIONS_IMAGE,
    MINIO_IMAGE,
    MINIO_UID,
    PROCESSING_IMAGE,
    Containers,
    env_options,
    hardened,
    podman,
    unique_name,
)
from tests.worker_fixtures import WORKER_ENV, ffprobe, h264_clip, lavfi

START_SECONDS = 120.0


@pytest.fixture(scope="module")
def functions(image_stack: ImageStack, module_containers: Containers) -> dict[str, str]:
    """Every function from the one functions image (FUNCTION_TARGET), each on its own port."""
    require_images(FUNCTIONS_IMAGE)
    env = container_env(image_stack.stack.env)
    urls, started = {}, {}
    for name in FUNCTIONS:
        port = free_port()
        options = [*hardened(APP_UID), *env_options({**env, "FUNCTION_TARGET": name,
                                                   "PORT": str(port)})]  # fmt: skip
        started[name] = module_containers.run(FUNCTIONS_IMAGE, options=options)
        urls[name] = f"http://127.0.0.1:{port}"
    for name, url in urls.items():
        container = started[name]
        try:
            poll(lambda u=url: answers_200(u + "/healthz"), f"fn-{name}", START_SECONDS)  # type: ignore[misc]
        except AssertionError as error:
            raise AssertionError(module_containers.logs(container)) from error
    return {**urls, **{f"container:{name}": started[name] for name in FUNCTIONS}}


@pytest.mark.parametrize("name", FUNCTIONS)
def test_each_function_starts_clean_read_only(
    functions: dict[str, str], module_containers: Containers, name: str
) -> None:
    response = httpx.get(functions[name] + "/healthz", timeout=10)
    assert response.status_code == 200
    logs = module_containers.logs(functions[f"container:{name}"])
    # gunicorn's control socket went to $HOME/.gunicorn: a read-only root refused it (issue 21).
    assert "Permission denied" not in logs, logs
    assert "[ERROR]" not in logs, logs
    user = podman("exec", functions[f"container:{name}"], "id", "-u").strip()
    assert user == str(APP_UID)


def test_every_function_serves_an_authenticated_request(
    functions: dict[str, str], image_stack: ImageStack
) -> None:
    headers = image_stack.headers
    me = httpx.get(functions["auth"] + "/api/auth/me", headers=headers, timeout=30)
    assert me.status_code == 200, me.text
    assert me.json()["username"].startswith("images-")
    listed = httpx.get(functions["media"] + "/api/media", headers=headers, timeout=30)
    assert listed.status_code == 200, listed.text
    announce = {"filename": "a.jpg", "content_type": "image/jpeg", "size_bytes": 1000}
    upload = httpx.post(functions["presign"] + "/api/uploads", json=announce, headers=headers,
                        timeout=30)  # fmt: skip
    assert upload.status_code == 201, upload.text
    assert upload.json()["url"].startswith(image_stack.stack.env["S3_PUBLIC_URL"])
    created = httpx.post(functions["collections"] + "/api/collections",
                         json={"title": "In a container"}, headers=headers, timeout=30)  # fmt: skip
    assert created.status_code == 201, created.text
    shared = httpx.post(f"{functions['collections']}/api/collections/{created.json()['id']}/shares",
                        json={}, headers=headers, timeout=30)  # fmt: skip
    assert shared.status_code == 201, shared.text
    view = httpx.get(f"{functions['share']}/api/share/{shared.json()['token']}", timeout=30)
    assert view.status_code == 200, view.text
    assert view.json()["collection"]["title"] == "In a container"
    page = httpx.get(functions["web"] + "/", timeout=30)
    assert page.status_code == 200
    assert "text/html" in page.headers["content-type"]
    refused = httpx.get(functions["media"] + "/api/media", timeout=30)
    assert refused.status_code == 401


@pytest.fixture(scope="module")
def worker(image_stack: ImageStack, module_containers: Containers) -> str:
    """`mediavault worker` from the processing image, on the image tests' own stack."""
    require_images(PROCESSING_IMAGE)
    stack = image_stack.stack
    port = free_port()
    env = {**container_env(stack.env), **stack.layout.worker_env(), **WORKER_ENV,
           "WORKER_PORT": str(port)}  # fmt: skip
    worker = module_containers.run(
        PROCESSING_IMAGE, options=[*hardened(APP_UID), *env_options(env)]
    )
    try:
        poll(lambda: answers_200(f"http://127.0.0.1:{port}/healthz"), "the worker",
             START_SECONDS)  # fmt: skip
    except AssertionError as error:
        raise AssertionError(module_containers.logs(worker)) from error
    return worker


def _processed(
    image_stack: ImageStack, logs: Callable[[], str], path: Path, content_type: str
) -> dict[str, Any]:
    """Upload through the presign function; the media row once the worker is done with it."""
    presign = function_client(image_stack.stack, "presign")
    body = {"filename": path.name, "content_type": content_type, "size_bytes": path.stat().st_size}
    started = presign.post("/api/uploads", json=body, headers=image_stack.headers).get_json()
    put = httpx.put(started["url"], content=path.read_bytes(), headers=started["headers"])
    assert put.status_code == 200, put.text
    media_id = started["media_id"]
    done = presign.post(f"/api/uploads/{media_id}/complete", headers=image_stack.headers)
    assert done.status_code == 200

    def row() -> dict[str, Any]:
        with image_stack.services.pool.connection() as conn:
            found = conn.execute("SELECT * FROM media WHERE id = %s", (media_id,)).fetchone()
        assert found is not None
        return dict(found)

    try:
        poll(lambda: row()["status"] in ("ready", "failed"), f"{path.name} processed", 240)
    except AssertionError as error:
        raise AssertionError(logs()) from error
    final = row()
    assert final["status"] == "ready", f"{final['error']}\n{logs()}"
    return final


def test_processing_image_transcodes_from_and_to_minio(
    image_stack: ImageStack, module_containers: Containers, worker: str, tmp_path: Path
) -> None:
    clip = h264_clip(tmp_path / "clip.mp4")
    media = _processed(image_stack, lambda: module_containers.logs(worker), clip, "video/mp4")
    playback = tmp_path / "playback.mp4"
    storage = image_stack.services.storage
    storage.client.fget_object(storage.bucket, media["playback_key"], str(playback))
    [video] = [s for s in ffprobe(playback)["streams"] if s["codec_type"] == "video"]
    assert video["codec_name"] == "hevc"


def test_processing_image_decodes_a_photo(
    image_stack: ImageStack, module_containers: Containers, worker: str, tmp_path: Path
) -> None:
    # The photo child runs as `python -I -m processing.photo_child`: isolated mode ignores
    # PYTHONPATH, so the package must be installed, not only on PYTHONPATH (issue 21).
    photo = lavfi(tmp_path / "photo.jpg", "-f", "lavfi", "-i", "testsrc2=size=640x480",
                  "-frames:v", "1")  # fmt: skip
    media = _processed(image_stack, lambda: module_containers.logs(worker), photo, "image/jpeg")
    assert (media["width"], media["height"]) == (640, 480)
    assert media["thumbnail_key"]


def test_minio_image_keeps_its_data_across_a_restart(
    module_containers: Containers, tmp_path: Path
) -> None:
    require_images(MINIO_IMAGE)
    port = free_port()
    volume = unique_name("mediavault-test-minio")
    podman("volume", "create", volume)
    try:
        options = [
            *hardened(MINIO_UID),
            f"--volume={volume}:/data:U",
            *env_options({"MINIO_ROOT_USER": "mediavault", "MINIO_ROOT_PASSWORD": "test-password",
                          "MINIO_UPDATE": "off"}),
        ]  # fmt: skip
        command = ("server", "/data", "--address", f"127.0.0.1:{port}")
        url = f"http://127.0.0.1:{port}/minio/health/live"
        client = Minio(f"127.0.0.1:{port}", "mediavault", "test-password", secure=False)
        first = module_containers.run(MINIO_IMAGE, *command, options=options)
        poll(lambda: answers_200(url), "MinIO", START_SECONDS)
        client.make_bucket("kept")
        source = tmp_path / "object"
        source.write_bytes(b"survives a restart")
        client.fput_object("kept", "object", str(source))
        module_containers.remove(first)
        second = module_containers.run(MINIO_IMAGE, *command, options=options)
        poll(lambda: answers_200(url), "MinIO again", START_SECONDS)
        poll(lambda: _readable(client), "the object after the restart", 60)
        assert client.get_object("kept", "object").read() == b"survives a restart"
        module_containers.remove(second)
    finally:
        podman("volume", "rm", "--force", volume, check=False)


def _readable(client: Minio) -> bool:
    try:
        client.stat_object("kept", "object")
    except Exception:  # MinIO answers 503 while it loads its disks
        return False
    return True


def test_processing_image_has_the_encoders_the_worker_selects() -> None:
    require_images(PROCESSING_IMAGE)
    encoders = podman("run", "--rm", "--network=none", "--read-only", PROCESSING_IMAGE,
                      "ffmpeg", "-hide_banner", "-encoders")  # fmt: skip
    assert "libx265" in encoders
    assert "hevc_nvenc" in encoders


BASES = ("debian", "python", "node", "golang", "distroless", "postgres", "nsq", "nginx")


@pytest.mark.parametrize("name", BASES)
def test_each_base_image_says_what_it_was_made_from(name: str) -> None:
    path = default_tools_dir(os.environ) / "images" / f"{name}.json"
    assert path.exists(), "run `make images` (make test does)"
    record = json.loads(path.read_text())
    assert record["built_from"]
    assert record["built_at"]
    if record["stand_in"]:
        assert record["versions"], record
    current = podman("image", "inspect", "--format", "{{.Id}}", record["image"]).strip()
    assert current == record["image_id"], f"{record['image']} changed since {path} was written"
