"""Run ffmpeg as a child with -progress, heartbeats and a wall-clock limit that kills it."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import selectors
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from processing.confinement import setup_failure
from processing.errors import (
    PermanentProcessingError,
    ProcessingTimeout,
    TransientProcessingError,
)
from processing.limits import Sandbox

log = logging.getLogger(__name__)

ProgressCallback = Callable[[float], None]
HeartbeatCallback = Callable[[], None]

# Failures of the machine rather than of the input: a retry elsewhere or later may succeed.
_TRANSIENT_MARKERS = (
    "no space left on device",
    "cannot allocate memory",
    "out of memory",
    "resource temporarily unavailable",
    "openencodesessionex failed",
    "no capable devices found",
    "cannot load libcuda",
    "cannot load libnvidia-encode",
    "cuda_error",
)
_MEMORY_MARKERS = ("cannot allocate memory", "out of memory", "malloc of size",
                   "memory allocation failure", "failed to map segment")  # fmt: skip
_STDERR_TAIL_BYTES = 4096


class _DeadlinePassed(Exception):
    """Internal: the wall-clock limit passed while ffmpeg was still running."""


@dataclass(frozen=True)
class RunStats:
    """What one ffmpeg run took."""

    wall_seconds: float
    frames: int | None
    out_time_ms: int | None
    stderr_tail: str


@dataclass
class _ProgressState:
    """Parses -progress key=value lines into a monotonic fraction (one per run)."""

    duration_us: int | None
    on_progress: ProgressCallback | None
    fraction: float = 0.0
    frames: int | None = None
    out_time_us: int | None = None
    pending: bytes = b""
    values: dict[str, str] = field(default_factory=dict)

    def feed(self, chunk: bytes) -> None:
        """Consume bytes from ffmpeg's stdout."""
        self.pending += chunk
        *lines, self.pending = self.pending.split(b"\n")
        for raw in lines:
            key, _, value = raw.decode("ascii", "replace").strip().partition("=")
            self.values[key] = value
            if key == "progress":
                self._block_done(final=value == "end")

    def finish(self) -> None:
        """The run succeeded: the work is all done whatever the last report said."""
        self._report(1.0)

    def _block_done(self, *, final: bool) -> None:
        frame = self.values.get("frame", "")
        if frame.isdigit():
            self.frames = int(frame)
        out_us = self.values.get("out_time_us", "")
        if out_us.isdigit():
            self.out_time_us = max(self.out_time_us or 0, int(out_us))
        if final:
            self._report(1.0)
        elif self.duration_us and out_us.lstrip("-").isdigit():
            self._report(min(1.0, max(0.0, int(out_us) / self.duration_us)))

    def _report(self, fraction: float) -> None:
        # Timestamps can step back (B-frames, audio priming): never let progress go backwards.
        if fraction <= self.fraction:
            return
        self.fraction = fraction
        if self.on_progress is not None:
            self.on_progress(fraction)


def run_ffmpeg(
    args: Sequence[str],
    *,
    timeout: float,
    duration_ms: int | None = None,
    on_progress: ProgressCallback | None = None,
    on_heartbeat: HeartbeatCallback | None = None,
    heartbeat_interval: float = 5.0,
    what: str = "ffmpeg",
    sandbox: Sandbox | None = None,
    reads: Sequence[Path] = (),
    writes: Sequence[Path] = (),
) -> RunStats:
    """Run `args` (args[0] is the ffmpeg binary) under the sandbox's limits.

    `reads` are its input files, `writes` its output directories (see `Sandbox.command`).
    Raises a ProcessingError on failure; whatever the heartbeat raises (a cancelled job) ends
    ffmpeg and propagates.
    """
    if shutil.which(args[0]) is None:  # setpriv would report a missing binary as ffmpeg's failure
        raise TransientProcessingError(f"cannot run {args[0]}: not found")
    limits = sandbox or Sandbox()
    argv = limits.command(
        [args[0], "-nostdin", "-nostats", "-progress", "pipe:1", *args[1:]],
        reads=reads, writes=writes,
    )  # fmt: skip
    state = _ProgressState(
        duration_us=duration_ms * 1000 if duration_ms else None, on_progress=on_progress
    )
    start = time.monotonic()
    with tempfile.TemporaryFile() as errfile:
        try:
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=errfile,
                env=limits.env,
                start_new_session=True,  # one group, so a kill reaches any helper it spawns
            )
        except OSError as exc:
            raise TransientProcessingError(f"cannot run {args[0]}: {exc}") from exc
        try:
            cpu_seconds = _pump(proc, state, start + timeout, on_heartbeat, heartbeat_interval)
        except _DeadlinePassed:
            _kill_group(proc)
            log.warning("%s killed after %.1f s (pid %d)", what, timeout, proc.pid)
            raise ProcessingTimeout(
                f"{what} did not finish within {timeout:g} s and was stopped",
                pid=proc.pid,
                timeout=timeout,
            ) from None
        finally:
            _kill_group(proc)
            limits.reclaim(writes)
        tail = _tail(errfile)
    wall = time.monotonic() - start
    if limits.cpu_seconds is not None and cpu_seconds >= limits.cpu_seconds:
        raise PermanentProcessingError(f"{what} used more CPU time than this file is allowed")
    if proc.returncode != 0:
        raise _failure(what, proc.returncode, tail, limits)
    state.finish()
    out_ms = state.out_time_us // 1000 if state.out_time_us is not None else None
    return RunStats(wall_seconds=wall, frames=state.frames, out_time_ms=out_ms, stderr_tail=tail)


def _pump(
    proc: subprocess.Popen[bytes],
    state: _ProgressState,
    deadline: float,
    on_heartbeat: HeartbeatCallback | None,
    interval: float,
) -> float:
    """Feed progress until ffmpeg exits, beating the heart on time even when it is silent.

    Returns the CPU seconds ffmpeg used.
    """
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    last_beat = time.monotonic()
    with selectors.DefaultSelector() as selector:
        selector.register(fd, selectors.EVENT_READ)
        open_pipe = True
        while open_pipe:
            now = time.monotonic()
            if now >= deadline:
                raise _DeadlinePassed
            wait = max(0.0, min(deadline - now, last_beat + interval - now))
            if selector.select(wait):
                chunk = os.read(fd, 65536)
                open_pipe = bool(chunk)
                state.feed(chunk)
            now = time.monotonic()
            if now - last_beat >= interval:
                last_beat = now
                if on_heartbeat is not None:
                    on_heartbeat()
    return _reap(proc, deadline)


def _reap(proc: subprocess.Popen[bytes], deadline: float) -> float:
    """Wait for ffmpeg's exit and return the CPU seconds it used (from wait4's rusage).

    ffmpeg catches SIGXCPU and exits like after Ctrl-C, so the CPU time it used is the only
    sure sign that it reached its CPU limit.
    """
    while True:
        pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if pid:
            proc.returncode = os.waitstatus_to_exitcode(status)
            return float(usage.ru_utime + usage.ru_stime)
        if time.monotonic() >= deadline:
            raise _DeadlinePassed
        time.sleep(0.02)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def _tail(errfile: IO[bytes]) -> str:
    size = errfile.seek(0, os.SEEK_END)
    errfile.seek(max(0, size - _STDERR_TAIL_BYTES))
    text = errfile.read().decode("utf-8", "replace")
    # Inputs are addressed as file:<temp path>; the path means nothing to the uploader.
    return re.sub(r"file:[^\s:]+: ", "", text).strip()


def _failure(what: str, returncode: int, tail: str, sandbox: Sandbox) -> Exception:
    """Turn a failed exit into a permanent or transient error with a readable reason."""
    unconfined = setup_failure(returncode, tail)
    if unconfined is not None:
        return unconfined
    detail = readable_error(tail) or f"exit status {returncode}"
    lowered = tail.lower()
    if sandbox.memory_bytes is not None and any(m in lowered for m in _MEMORY_MARKERS):
        # Under an address-space limit, running out of memory is the file's doing, every time.
        return PermanentProcessingError(
            f"{what} needs more memory than the {sandbox.memory_bytes / 1024**3:g} GiB allowed"
        )
    if returncode < 0:
        return TransientProcessingError(f"{what} was killed by signal {-returncode}")
    if any(marker in tail.lower() for marker in _TRANSIENT_MARKERS):
        return TransientProcessingError(f"{what} failed: {detail}")
    return PermanentProcessingError(f"{what} failed: {detail}")


def readable_error(stderr: str) -> str:
    """The line of ffmpeg's error output that names the cause, without its "[codec @ 0x…]"."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    # ffmpeg reports the cause first; what follows ("Error initializing output stream…",
    # "Conversion failed!") are its consequences.
    return re.sub(r"^\[[^\]]*\]\s*", "", lines[0]) if lines else ""


@contextlib.contextmanager
def atomic_output(dst: Path) -> Iterator[Path]:
    """Yield a temporary sibling of `dst`, renamed onto it if the block succeeds and wrote it."""
    part = dst.with_name(f".{dst.name}.part")
    try:
        yield part
        if part.exists() and part.stat().st_size > 0:
            os.replace(part, dst)
    finally:
        part.unlink(missing_ok=True)
