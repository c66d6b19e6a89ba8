"""The local stack's processes: started together, each restarted with backoff, stopped by pid."""

from __future__ import annotations

import contextlib
import datetime
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType

    from honcho.printer import Printer

    from mediavault.devstack.services import ServiceSpec

logger = logging.getLogger(__name__)

# Exit codes a shell gives a command ended by these signals (honcho's too).
SIGNAL_EXIT_CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


@dataclass(frozen=True)
class Backoff:
    """How long to wait before restarting a process that exited."""

    first_seconds: float = 0.5
    max_seconds: float = 30.0
    # A process that ran this long before it exited starts again from `first_seconds`.
    stable_seconds: float = 60.0

    def next_delay(self, previous: float | None, uptime: float) -> float:
        """Doubling from `first_seconds` up to `max_seconds` while it keeps crashing."""
        if previous is None or uptime >= self.stable_seconds:
            return self.first_seconds
        return min(previous * 2, self.max_seconds)


class Supervisor:
    """Runs services until `stop`: one exiting is restarted alone, the rest keep running."""

    def __init__(
        self,
        specs: Sequence[ServiceSpec],
        environ: Mapping[str, str],
        printer: Printer,
        backoff: Backoff | None = None,
        stop_timeout_seconds: float = 10.0,
    ) -> None:
        from honcho.colour import get_colours

        self._specs = list(specs)
        self._stop_signals = {spec.name: spec.stop_signal for spec in self._specs}
        self._environ = dict(environ)
        self._printer = printer
        self._printer.width = max(len(spec.name) for spec in self._specs)
        self._backoff = backoff or Backoff()
        self._stop_timeout = stop_timeout_seconds
        colours = get_colours()
        self._colours = {spec.name: next(colours) for spec in self._specs}
        # Held while a pid may be signalled or reaped: a pid is never signalled once reaped.
        self._lock = threading.Lock()
        self._print_lock = threading.Lock()
        self._running: dict[str, subprocess.Popen[bytes]] = {}
        self._stopping = threading.Event()
        self._stop_requested = threading.Event()
        self._returncode = 0

    def run(self) -> int:
        """Start every service in order and supervise them until stopped; the exit code."""
        for signum in SIGNAL_EXIT_CODES:
            signal.signal(signum, self._on_signal)
        threads = [
            threading.Thread(target=self._supervise, args=(spec,), name=spec.name, daemon=True)
            for spec in self._specs
        ]
        for thread in threads:
            thread.start()
        while not self._stop_requested.wait(1.0):
            pass
        self._stop_all(threads)
        return self._returncode

    def stop(self, returncode: int) -> None:
        """Ask `run` to stop everything and return this code (any thread)."""
        if not self._stop_requested.is_set():
            self._returncode = returncode
            self._stop_requested.set()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        logger.info("%s received: stopping the stack", signal.Signals(signum).name)
        self.stop(SIGNAL_EXIT_CODES[signal.Signals(signum)])

    def _supervise(self, spec: ServiceSpec) -> None:
        delay: float | None = None
        restarts = 0
        while True:
            started = time.monotonic()
            try:
                process = self._start(spec)
            except OSError:
                logger.exception("%s could not be started", spec.name)
                returncode: int | None = None
            else:
                if process is None:
                    return
                returncode = self._wait(spec, process)
            if self._stopping.is_set():
                logger.info("%s stopped (rc=%s)", spec.name, returncode)
                return
            uptime = time.monotonic() - started
            delay = self._backoff.next_delay(delay, uptime)
            restarts += 1
            logger.warning(
                "%s exited (rc=%s) after %.1f s; restart %d in %.1f s",
                spec.name, returncode, uptime, restarts, delay,
            )  # fmt: skip
            if self._stopping.wait(delay):
                return

    def _start(self, spec: ServiceSpec) -> subprocess.Popen[bytes] | None:
        """Start the service unless the stack is stopping; it leads its own process group."""
        try:
            if spec.before_start is not None:
                spec.before_start()
        except Exception:
            logger.exception("preparing %s failed; starting it anyway", spec.name)
        with self._lock:
            if self._stopping.is_set():
                return None
            process = subprocess.Popen(
                spec.argv,
                env={**self._environ, **spec.env},
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            self._running[spec.name] = process
        logger.info("%s started (pid=%d)", spec.name, process.pid)
        assert process.stdout is not None
        threading.Thread(target=self._relay, args=(spec.name, process.stdout), daemon=True).start()
        return process

    def _wait(self, spec: ServiceSpec, process: subprocess.Popen[bytes]) -> int:
        """Block until the process exits; end what it left in its group; reap it."""
        # Not reaped yet (WNOWAIT): while it is a zombie its pid, and so its group's id, cannot
        # be given to another process. A gunicorn worker or a PostgreSQL backend outliving its
        # parent would keep the port or the shared memory from the restarted one.
        os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOWAIT)
        kill_group(process.pid)
        with self._lock:
            del self._running[spec.name]
            return process.wait()

    def _relay(self, name: str, output: IO[bytes]) -> None:
        """Print each line the process writes, prefixed with its name, honcho's way."""
        from honcho.printer import Message

        colour = self._colours[name]
        with output:
            for line in iter(output.readline, b""):
                message = Message("line", line, datetime.datetime.now(), name, colour)
                with self._print_lock:
                    self._printer.write(message)

    def _stop_all(self, threads: list[threading.Thread]) -> None:
        """Each running service's stop signal by pid; SIGKILL for what is left at the deadline."""
        with self._lock:
            self._stopping.set()
            for name, process in self._running.items():
                _signal(process.pid, self._stop_signals[name])
        deadline = time.monotonic() + self._stop_timeout
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            for name, process in self._running.items():
                logger.warning("%s did not stop in time: killing it (pid=%d)", name, process.pid)
                kill_group(process.pid)
        for thread in threads:
            thread.join(self._stop_timeout)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def kill_group(pgid: int, deadline_seconds: float = 5.0) -> None:
    """SIGKILL a process group and wait until none of its members runs any more."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + deadline_seconds
    while _group_runs(pgid) and time.monotonic() < deadline:
        time.sleep(0.05)


def _group_runs(pgid: int) -> bool:
    """True while a process of the group runs (zombies, awaiting their parent, do not count)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue  # it ended while we looked
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False


def printer_to_stdout() -> Printer:
    """honcho's printer: `time name | line`, coloured per process on a terminal."""
    from honcho.printer import Printer

    return Printer(sys.stdout)
