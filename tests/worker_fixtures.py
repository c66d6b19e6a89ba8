"""Fixtures for the processing tests: a real `mediavault worker` process and upload helpers."""

from __future__ import annotations

import json
import shutil
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from mediavault.devstack.services import ServiceSpec
from mediavault.services import Services
from tests.api_fixtures import ApiUser
from tests.harness import ProcessGroup, Stack, free_port, poll

# Short clocks so that a killed worker's job is taken over within seconds; not so short that a
# busy machine holding a heartbeat back a few seconds makes a live job look dead.
WORKER_ENV = {
    "TRANSCODE_PRESET": "ultrafast",
    "WORKER_MSG_TIMEOUT_SECONDS": "4",
    "PROCESSING_HEARTBEAT_SECONDS": "1",
    # Steps between heartbeats (a probe, a download, the decoders' sandbox starting up) can take
    # several seconds when the whole suite loads both cores: a live job must not look dead.
    "PROCESSING_STALE_AFTER_SECONDS": "12",
}


@dataclass
class RunningWorker:
    """The worker process of the tests; it can be killed and started again."""

    spec: ServiceSpec
    processes: ProcessGroup
    port: int
    scratch_dir: Path

    def kill(self) -> int:
        """SIGKILL, as an OOM kill or a node loss would; the pid it had."""
        running = self.processes.running.pop(self.spec.name)
        running.process.kill()
        running.process.wait(10)
        return running.process.pid

    def start(self) -> None:
        """Start (again) and wait until /healthz answers."""
        self.processes.start(self.spec)


@pytest.fixture(scope="session")
def worker(stack: Stack) -> Iterator[RunningWorker]:
    port = free_port()
    scratch = stack.layout.data_dir / "scratch"
    env = {**stack.env, **stack.layout.worker_env(), **WORKER_ENV, "WORKER_PORT": str(port),
           "PROCESSING_SCRATCH_DIR": str(scratch)}  # fmt: skip
    spec = ServiceSpec(
        "worker",
        (str(stack.binaries.python_bin / "mediavault"), "worker"),
        ready_url=f"http://127.0.0.1:{port}/healthz",
    )
    processes = ProcessGroup(stack.layout.data_dir, env)
    running = RunningWorker(spec, processes, port, scratch)
    running.start()
    try:
        yield running
    finally:
        processes.stop_all()
        # The worker's log outlives its throwaway stack: a failed pipeline test is explained there.
        log = stack.layout.data_dir / "worker.log"
        if log.exists():
            artifacts = Path(__file__).resolve().parent.parent / "test-artifacts"
            artifacts.mkdir(exist_ok=True)
            shutil.copyfile(log, artifacts / "worker.log")


def lavfi(path: Path, *args: str) -> Path:
    """Make a small test file with ffmpeg."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", *args, str(path)], check=True, timeout=120)
    return path


def h264_clip(path: Path, seconds: float = 2.0, size: str = "320x240") -> Path:
    """H.264 video with AAC audio from lavfi's testsrc2 and a sine."""
    return lavfi(
        path,
        "-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}",
        "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
    )  # fmt: skip


def ffprobe(path: Path) -> dict[str, Any]:
    """ffprobe's JSON report."""
    out = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
         str(path)],
        capture_output=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    report: dict[str, Any] = json.loads(out)
    return report


Upload = Callable[..., str]


@pytest.fixture
def upload(presign: FlaskClient, alice: ApiUser) -> Upload:
    """Upload a file through the API like a browser; the media id."""

    def send(path: Path, content_type: str, user: ApiUser = alice, complete: bool = True) -> str:
        data = path.read_bytes()
        body = {"filename": path.name, "content_type": content_type, "size_bytes": len(data)}
        response = presign.post("/api/uploads", json=body, headers=user.headers)
        assert response.status_code == 201, response.get_data(as_text=True)
        started = response.get_json()
        put = httpx.put(started["url"], content=data, headers=started["headers"])
        assert put.status_code == 200, put.text
        if complete:  # as a client does; without it, MinIO's event alone starts the job
            done = presign.post(
                f"/api/uploads/{started['media_id']}/complete", headers=user.headers
            )
            assert done.status_code == 200, done.get_data(as_text=True)
        return str(started["media_id"])

    return send


def status_of(services: Services, media_id: str) -> dict[str, Any]:
    """The media row with its job."""
    with services.pool.connection() as conn:
        row = conn.execute(
            "SELECT m.*, j.attempts, j.encoder, j.state, j.progress FROM media m"
            " LEFT JOIN processing_jobs j ON j.media_id = m.id WHERE m.id = %s",
            (media_id,),
        ).fetchone()
    assert row is not None
    return dict(row)


def settled(services: Services, media_id: str, deadline: float = 90.0) -> dict[str, Any]:
    """Wait until the media is ready or failed; the final row."""
    poll(lambda: status_of(services, media_id)["status"] in ("ready", "failed"),
         f"media {media_id} to be processed", deadline)  # fmt: skip
    return status_of(services, media_id)


def new_id() -> str:
    """A fresh media id."""
    return str(uuid.uuid4())
