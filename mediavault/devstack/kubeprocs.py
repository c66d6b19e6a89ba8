"""The processes of a throwaway cluster: started detached, logged, recorded and stopped by pid."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path

PIDS_FILE = "pids.json"


def start_process(name: str, argv: Sequence[str], base: Path) -> int:
    """Start a program in its own session (it outlives its caller), logging to base/logs."""
    log = (base / "logs" / f"{name}.log").open("ab")
    try:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=base,
            env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(base)},
            start_new_session=True,
        )
    finally:
        log.close()
    return process.pid


def save_pids(base: Path, pids: dict[str, int]) -> None:
    """Record what runs, so that another process can stop it."""
    (base / PIDS_FILE).write_text(json.dumps(pids))


def recorded(base: Path) -> bool:
    """Processes were started in `base` and not stopped since."""
    return (base / PIDS_FILE).exists()


def _alive(pid: int) -> bool:
    """The pid runs (a zombie child of ours is reaped and counts as gone)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of this process has exited: reap it.
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return True
    return done == 0


def _ours(pid: int, base: Path) -> bool:
    """The pid still runs one of this cluster's processes (not a reused pid)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    except OSError:
        return False
    return str(base) in cmdline


def stop_processes(base_dir: Path, deadline_seconds: float = 15.0) -> None:
    """Stop the processes started in `base_dir` by pid, newest first."""
    pids_file = base_dir / PIDS_FILE
    if not pids_file.exists():
        return
    pids: dict[str, int] = json.loads(pids_file.read_text())
    for _, pid in reversed(list(pids.items())):
        if not _ours(pid, base_dir):
            continue
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + deadline_seconds
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)
    pids_file.unlink()


def log_tail(base: Path) -> str:
    tails = []
    for path in sorted((base / "logs").glob("*.log")):
        lines = path.read_text(errors="replace").splitlines()[-15:]
        tails.append(f"--- {path.name}\n" + "\n".join(lines))
    return "\n".join(tails)
