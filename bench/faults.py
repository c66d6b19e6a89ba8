"""Fault table: inject each fault several times into a running stack; count what recovers alone.

A throwaway stack (PostgreSQL, MinIO, nsqd, nsqlookupd), a real worker and the scheduled
reconcile pass (`mediavault reconcile --every 5`), as the dev stack runs them. Each run uploads a
few short clips through the presign function, injects one fault while they are in flight, and
then waits — no human step, no reconcile run by this script — until every upload is ready or the
deadline passes. Prints, per fault: runs, uploads attempted, ready, lost (not ready by the
deadline), and how many runs needed a manual step (none is ever taken: a lost upload is one).
Usage: .venv/bin/python bench/faults.py [--runs N] [--uploads K]
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediavault.devstack.services import ServiceSpec  # noqa: E402
from mediavault.services import Services  # noqa: E402
from mediavault.users import create_api_token, get_or_create_local_user  # noqa: E402
from tests.harness import (  # noqa: E402
    ProcessGroup,
    RunningProcess,
    Stack,
    free_port,
    function_client,
    running_stack,
)

DEADLINE = 180.0
POLL = 0.2


@dataclass
class Row:
    """One fault's totals."""

    runs: int = 0
    attempted: int = 0
    ready: int = 0
    manual_runs: int = 0


@dataclass
class Harness:
    """The stack with its worker, reconcile pass and an uploading client."""

    stack: Stack
    services: Services
    processes: ProcessGroup
    presign: Any
    headers: dict[str, str]
    clip: Path

    def worker(self) -> RunningProcess:
        return self.processes.running["worker"]

    def upload(self, complete: bool = True) -> str:
        size = self.clip.stat().st_size
        body = {"filename": "clip.mp4", "content_type": "video/mp4", "size_bytes": size}
        while True:
            response = self.presign.post("/api/uploads", json=body, headers=self.headers)
            if response.status_code == 201:
                break
            time.sleep(1.0)  # 503 while a dependency is down: a client retries
        started = response.get_json()
        for _ in range(60):
            try:
                put = httpx.put(started["url"], content=self.clip.read_bytes(),
                                headers=started["headers"], timeout=30)  # fmt: skip
                if put.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(1.0)
        if complete:
            self.presign.post(f"/api/uploads/{started['media_id']}/complete", headers=self.headers)
        return str(started["media_id"])

    def statuses(self, ids: list[str]) -> dict[str, str]:
        try:
            with self.services.pool.connection() as conn:
                rows = conn.execute(
                    "SELECT id, status FROM media WHERE id = ANY(%s::uuid[])", (ids,)
                ).fetchall()
        except Exception:  # PostgreSQL is the fault being injected
            return {}
        return {str(row["id"]): row["status"] for row in rows}

    def wait_all_ready(self, ids: list[str]) -> int:
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            states = self.statuses(ids)
            if sum(state == "ready" for state in states.values()) == len(ids):
                return len(ids)
            time.sleep(POLL)
        return sum(state == "ready" for state in self.statuses(ids).values())


def kill_worker_mid_encode(h: Harness, count: int) -> list[str]:
    ids = [h.upload() for _ in range(count)]
    _until(lambda: "processing" in h.statuses(ids).values(), 60)
    h.worker().process.kill()
    h.worker().process.wait(10)
    h.processes.start(h.worker().spec)
    return ids


def kill_nsqd_with_queued_events(h: Harness, count: int) -> list[str]:
    worker = h.worker()
    worker.stop()
    ids = [h.upload() for _ in range(count)]
    nsqd = h.stack.processes.running["nsqd"]
    nsqd.process.kill()
    nsqd.process.wait(10)
    h.stack.processes.start(nsqd.spec)
    h.processes.start(worker.spec)
    return ids


def restart_postgres_while_processing(h: Harness, count: int) -> list[str]:
    ids = [h.upload() for _ in range(count)]
    _until(lambda: "processing" in h.statuses(ids).values(), 60)
    postgres = h.stack.processes.running["postgres"]
    postgres.stop()
    time.sleep(3)  # an outage of a few seconds, as a pod restart gives
    h.stack.processes.start(postgres.spec)
    return ids


def restart_minio_during_uploads(h: Harness, count: int) -> list[str]:
    ids = [h.upload(complete=False) for _ in range(count // 2)]
    minio = h.stack.processes.running["minio"]
    minio.stop()
    time.sleep(3)
    h.stack.processes.start(minio.spec)
    ids += [h.upload() for _ in range(count - count // 2)]
    return ids


FAULTS: dict[str, Callable[[Harness, int], list[str]]] = {
    "worker SIGKILLed mid-encode": kill_worker_mid_encode,
    "nsqd SIGKILLed with queued events": kill_nsqd_with_queued_events,
    "PostgreSQL restarted while processing": restart_postgres_while_processing,
    "MinIO restarted during uploads": restart_minio_during_uploads,
}


def _until(check: Callable[[], bool], seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while not check() and time.monotonic() < deadline:
        time.sleep(POLL)


def start(stack: Stack, clip: Path) -> Harness:
    """The worker, the scheduled reconcile pass and a user."""
    processes = ProcessGroup(stack.layout.data_dir, stack.env)
    port = free_port()
    env = {**stack.layout.worker_env(), "TRANSCODE_PRESET": "ultrafast",
           "WORKER_MSG_TIMEOUT_SECONDS": "10", "PROCESSING_HEARTBEAT_SECONDS": "1",
           "PROCESSING_STALE_AFTER_SECONDS": "5", "WORKER_PORT": str(port)}  # fmt: skip
    mediavault = str(stack.binaries.python_bin / "mediavault")
    processes.start(ServiceSpec("worker", (mediavault, "worker"),
                                ready_url=f"http://127.0.0.1:{port}/healthz", env=env))  # fmt: skip
    processes.start(ServiceSpec("reconcile", (mediavault, "reconcile", "--every=5"),
                                env={**env, "PROCESSING_STALE_AFTER_SECONDS": "5"}))  # fmt: skip
    services = Services.from_settings(stack.settings)
    services.pool.wait(timeout=30)
    with services.pool.connection() as conn:
        user = get_or_create_local_user(conn, "faults")
        token = create_api_token(conn, user.id, "faults")
    presign = function_client(stack, "presign", LOG_LEVEL="WARNING")
    headers = {"Authorization": f"Bearer {token.token}"}
    return Harness(stack, services, processes, presign, headers, clip)


def main() -> None:
    """Every fault `--runs` times; the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--uploads", type=int, default=4)
    parser.add_argument("--only", default="", help="run only the faults whose name has this")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="mediavault-bench-faults-"))
    table = {name: Row() for name in FAULTS}
    try:
        clip = scratch / "clip.mp4"
        subprocess.run(
            ["ffmpeg", "-nostdin", "-v", "error", "-y", "-f", "lavfi", "-i",
             "testsrc2=size=640x360:rate=25:duration=4", "-c:v", "libx264", "-preset",
             "ultrafast", "-pix_fmt", "yuv420p", str(clip)],
            check=True, timeout=120,
        )  # fmt: skip
        for name, inject in FAULTS.items():
            if args.only not in name:
                continue
            for number in range(args.runs):
                with running_stack("mediavault-bench-faults-") as stack:
                    harness = start(stack, clip)
                    try:
                        ids = inject(harness, args.uploads)
                        ready = harness.wait_all_ready(ids)
                        states = sorted(harness.statuses(ids).values())
                    finally:
                        harness.processes.stop_all()
                        harness.services.close()
                row = table[name]
                row.runs += 1
                row.attempted += len(ids)
                row.ready += ready
                row.manual_runs += ready < len(ids)
                print(f"  {name} run {number + 1}: {ready}/{len(ids)} ready {states}", flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(f"\n{'fault':<40}{'runs':>6}{'uploads':>9}{'ready':>7}{'lost':>6}{'manual':>8}")
    for name, row in table.items():
        if not row.runs:
            continue
        lost = row.attempted - row.ready
        print(f"{name:<40}{row.runs:>6}{row.attempted:>9}{row.ready:>7}{lost:>6}"
              f"{row.manual_runs:>8}")  # fmt: skip


if __name__ == "__main__":
    main()
