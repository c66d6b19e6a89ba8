"""Scratch directories of jobs: removed on every exit path, and after a SIGKILL at the next start.

Each job works in `<root>/job-<pid>-<random>`. A process killed outright cannot clean up, so a
worker starting up removes the directories of processes that no longer exist.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

logger = logging.getLogger(__name__)

_PREFIX = "job-"


def scratch_root(configured: str = "") -> Path:
    """Where job directories live: the configured directory, or one under the system temp dir."""
    root = Path(configured) if configured else Path(tempfile.gettempdir()) / "mediavault-scratch"
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    return root


@contextlib.contextmanager
def scratch_directory(configured: str = "") -> Iterator[Path]:
    """A private directory for one job, removed however the job ends."""
    path = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-", dir=scratch_root(configured)))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def remove_orphans(configured: str = "") -> list[Path]:
    """Remove job directories whose process is gone (killed mid-job); the ones removed."""
    removed = []
    for path in scratch_root(configured).glob(f"{_PREFIX}*"):
        pid_text = path.name[len(_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or _alive(int(pid_text)):
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    if removed:
        logger.info("removed %d scratch directories of killed jobs", len(removed))
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True
