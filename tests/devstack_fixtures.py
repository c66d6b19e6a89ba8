"""`mediavault dev` (what `make dev` runs) started by a test: its settings, its log, its pids."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from mediavault.devstack.layout import StackLayout, default_tools_dir
from tests.harness import free_port, stack_environment

MEDIAVAULT = str(Path(sys.executable).parent / "mediavault")

# What the stack logs each time it starts a process (honcho wrote the same words).
_STARTED = re.compile(r"([\w-]+) started \(pid=(\d+)\)")


def dev_environment(data_dir: Path) -> dict[str, str]:
    """`make dev`'s settings with every port free and its own data directory."""
    env = stack_environment(data_dir.parent)
    return {
        **env,
        "MEDIAVAULT_DEV_DIR": str(data_dir),
        "MEDIAVAULT_DEV_DISCORD_PORT": str(free_port()),
        "WORKER_PORT": str(free_port()),
        "MEDIAVAULT_TOOLS_DIR": str(default_tools_dir(os.environ)),
    }


def start_dev(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`mediavault dev` in a session of its own, its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen(
            [MEDIAVAULT, "dev"], env=env, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip


@dataclass
class DevStack:
    """A running `mediavault dev`, its output in one file."""

    process: subprocess.Popen[bytes]
    log: Path
    env: dict[str, str]
    layout: StackLayout

    def output(self) -> str:
        """Everything it printed so far."""
        return self.log.read_text(errors="replace")

    def pids(self) -> dict[str, int]:
        """Each process of the stack by name: the pid it was last started with."""
        return {name: int(pid) for name, pid in _STARTED.findall(self.output())}

    def interrupt(self, timeout: float = 60.0) -> int:
        """Ctrl-C, and its exit code; everything it started is killed if it does not stop."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            return self.process.wait(timeout)
        finally:
            if self.process.poll() is None:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def alive(pid: int) -> bool:
    """True while the process runs (a zombie, dead but not yet reaped, does not count)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def left_behind(pids: list[int]) -> list[str]:
    """Running processes that are one of these or in a process group one of them led."""
    groups = set(pids)
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            fields = (proc / "stat").read_text().rpartition(")")[2].split()
            command = (proc / "cmdline").read_bytes()[:80]
        except OSError:
            continue  # it ended while we looked
        pid, state, pgrp = int(proc.name), fields[0], int(fields[2])
        if state != "Z" and (pid in groups or pgrp in groups):
            found.append(f"{pid} {command!r}")
    return found
