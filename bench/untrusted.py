"""Costs of hostile and unfair uploads, each against a baseline measured in the same run.

1. A real 16000x16000 PNG (a few hundred KB of compressed zeros): peak RSS of the worker's check
   (recognise the container, read the picture header) against ffmpeg decoding it to a
   thumbnail, as the worker did before the checks.
2. A short clip of user B queued behind two long clips of user A: B's time from `complete` to
   `ready`, against the same clip processed alone, with the worker's defaults (two slots, one
   running job per owner) and with the old ones (one slot, no per-owner share).
Usage: .venv/bin/python bench/untrusted.py
"""

from __future__ import annotations

import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediavault.devstack.services import ServiceSpec  # noqa: E402
from mediavault.services import Services  # noqa: E402
from mediavault.users import create_api_token, get_or_create_local_user  # noqa: E402
from tests.harness import (  # noqa: E402
    RunningProcess,
    Stack,
    free_port,
    function_client,
    running_stack,
)

POLL = 0.05


def huge_png(path: Path, side: int = 16000) -> Path:
    """A valid side x side RGB PNG of black pixels, streamed out row by row."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    compressor = zlib.compressobj(9)
    row = b"\x00" + b"\x00" * (side * 3)
    data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )
    return path


def peak_rss_mib(argv: list[str]) -> tuple[float, int]:
    """Peak RSS of one child process run to its end, and its exit status."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    done = subprocess.run(argv, capture_output=True, check=False, timeout=600)
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(after, before) / 1024, done.returncode


def bomb() -> None:
    """Peak memory of refusing the PNG, against decoding it."""
    scratch = Path(tempfile.mkdtemp(prefix="mediavault-bench-bomb-"))
    try:
        png = huge_png(scratch / "bomb.png")
        check = (
            "import sys; from pathlib import Path; from processing.inputs import MediaInput\n"
            "from processing.errors import PermanentProcessingError\n"
            "try: MediaInput.open(Path(sys.argv[1]))\n"
            "except PermanentProcessingError as e: print(e)\n"
        )
        refused, _ = peak_rss_mib([sys.executable, "-c", check, str(png)])
        decoded, status = peak_rss_mib(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-i", f"file:{png}", "-vf",
             "scale=320:-2", "-frames:v", "1", str(scratch / "thumb.jpg")]
        )  # fmt: skip
        print(f"16000x16000 PNG ({png.stat().st_size:,} B): the worker's check peaks at "
              f"{refused:.0f} MiB (refused before decoding); ffmpeg decoding it peaked at "
              f"{decoded:.0f} MiB (exit {status}): {decoded / refused:.0f}x")  # fmt: skip
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def clip(path: Path, seconds: int, size: str) -> Path:
    """An H.264 clip from lavfi."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
         f"testsrc2=size={size}:rate=30:duration={seconds}", "-c:v", "libx264",
         "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)],
        check=True, timeout=600,
    )  # fmt: skip
    return path


def user(services: Services, name: str) -> dict[str, str]:
    """The Authorization header of a local user."""
    with services.pool.connection() as conn:
        account = get_or_create_local_user(conn, name)
        token = create_api_token(conn, account.id, "bench")
    return {"Authorization": f"Bearer {token.token}"}


def upload(presign: Any, headers: dict[str, str], path: Path) -> str:
    """Presign, PUT and complete like a client; the media id."""
    body = {"filename": path.name, "content_type": "video/mp4", "size_bytes": path.stat().st_size}
    started = presign.post("/api/uploads", json=body, headers=headers).get_json()
    with path.open("rb") as data:
        put = httpx.put(started["url"], content=data, headers=started["headers"], timeout=120)
    put.raise_for_status()
    presign.post(f"/api/uploads/{started['media_id']}/complete", headers=headers)
    return str(started["media_id"])


def settle(services: Services, media_id: str) -> float:
    """Wait until ready; the monotonic time it was seen ready."""
    while True:
        with services.pool.connection() as conn:
            row = conn.execute(
                "SELECT status, error FROM media WHERE id = %s", (media_id,)
            ).fetchone()
        if row and row["status"] in ("ready", "failed"):
            if row["status"] == "failed":
                raise SystemExit(f"{media_id} failed: {row['error']}")
            return time.monotonic()
        time.sleep(POLL)


def start_worker(stack: Stack, env: dict[str, str]) -> RunningProcess:
    """A real worker with the given settings."""
    port = free_port()
    spec = ServiceSpec(
        f"worker-{port}",
        (str(stack.binaries.python_bin / "mediavault"), "worker"),
        ready_url=f"http://127.0.0.1:{port}/healthz",
        env={**stack.layout.worker_env(), "WORKER_PORT": str(port), **env},
    )
    return stack.processes.start(spec)


def fairness() -> None:
    """B's short clip behind A's long ones, for the new and the old worker settings."""
    scratch = Path(tempfile.mkdtemp(prefix="mediavault-bench-fair-"))
    try:
        long_clip = clip(scratch / "long.mp4", 30, "1920x1080")
        short_clip = clip(scratch / "short.mp4", 5, "1280x720")
        with running_stack("mediavault-bench-fair-") as stack:
            services = Services.from_settings(stack.settings)
            services.pool.wait(timeout=30)
            presign = function_client(stack, "presign", LOG_LEVEL="WARNING")
            alice, bob = user(services, "bench-a"), user(services, "bench-b")
            settings = {
                "now (2 slots, 1 job per owner)": {},
                "before (1 slot, no share)": {"WORKER_CONCURRENCY": "1",
                                              "PROCESSING_MAX_JOBS_PER_OWNER": "100"},
            }  # fmt: skip
            for name, env in settings.items():
                worker = start_worker(stack, env)
                try:
                    started = time.monotonic()
                    alone = settle(services, upload(presign, bob, short_clip)) - started
                    long_ids = [upload(presign, alice, long_clip) for _ in range(2)]
                    started = time.monotonic()
                    behind = settle(services, upload(presign, bob, short_clip)) - started
                    for media_id in long_ids:
                        settle(services, media_id)
                finally:
                    worker.stop()
                print(f"{name}: B's 5 s clip alone {alone:.1f} s, behind A's two 30 s 1080p "
                      f"clips {behind:.1f} s: {behind / alone:.2f}x")  # fmt: skip
            services.close()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    bomb()
    fairness()
