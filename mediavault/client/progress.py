"""One progress display for a whole batch: rich bars on a terminal, plain lines otherwise."""

from __future__ import annotations

import sys
import threading
import time
from types import TracebackType
from typing import IO, Protocol

FILES = "files"


def human_bytes(count: float) -> str:
    """1.5 MB, 320 kB, 12 B (powers of 1000, as rich shows them)."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(count) < 1000 or unit == "TB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError("unreachable")


class Display(Protocol):
    """What the upload and download engines report while they work."""

    def start(self, files: int, total_bytes: int, verb: str) -> None:
        """The batch: this many files and bytes to hash and send (or receive)."""

    def hashed(self, count: int) -> None:
        """`count` more bytes hashed."""

    def moved(self, count: int) -> None:
        """`count` more bytes sent or received (negative when a failed attempt is undone)."""

    def drop(self, count: int) -> None:
        """`count` bytes that will not be moved after all (a duplicate, a resumed part)."""

    def finished(self, line: str) -> None:
        """One more file is done; a line about it."""

    def note(self, line: str) -> None:
        """A line that is not about one file."""

    def close(self) -> None:
        """The batch is over."""


class PlainDisplay:
    """Lines only: one per file on stdout, and a status line on stderr every few seconds."""

    def __init__(
        self, out: IO[str] | None = None, err: IO[str] | None = None, every: float = 5.0
    ) -> None:
        self.out = out or sys.stdout
        self.err = err or sys.stderr
        self.every = every
        self._lock = threading.Lock()
        self._files = self._done = self._total = self._moved = 0
        self._verb = "sent"
        self._started = self._last = time.monotonic()

    def start(self, files: int, total_bytes: int, verb: str) -> None:
        with self._lock:
            self._files, self._total, self._verb = files, total_bytes, verb
            self._started = self._last = time.monotonic()

    def hashed(self, count: int) -> None:
        self._tick()

    def moved(self, count: int) -> None:
        with self._lock:
            self._moved += count
        self._tick()

    def drop(self, count: int) -> None:
        with self._lock:
            self._total -= count

    def finished(self, line: str) -> None:
        with self._lock:
            self._done += 1
            print(line, file=self.out, flush=True)

    def note(self, line: str) -> None:
        with self._lock:
            print(line, file=self.out, flush=True)

    def close(self) -> None:
        """Nothing to tear down: the summary follows."""

    def _tick(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now - self._last < self.every:
                return
            self._last = now
            speed = self._moved / max(now - self._started, 1e-6)
            print(
                f"... {self._done}/{self._files} files, {human_bytes(self._moved)} of"
                f" {human_bytes(self._total)} {self._verb}, {human_bytes(speed)}/s",
                file=self.err,
                flush=True,
            )


class RichDisplay:
    """rich's live bars: hashing, and bytes moved with files, speed and time left."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
            TransferSpeedColumn,
        )

        self._progress = Progress(
            TextColumn("{task.description:<22}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            transient=False,
        )
        self._lock = threading.Lock()
        self._files = self._done = 0
        self._verb = "sent"
        self._hashing = self._progress.add_task("hashing", total=0, visible=False)
        self._moving = self._progress.add_task("", total=0)

    def __enter__(self) -> RichDisplay:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def start(self, files: int, total_bytes: int, verb: str) -> None:
        with self._lock:
            self._files, self._verb = files, verb
        self._progress.update(self._hashing, total=total_bytes, visible=verb == "sent")
        self._progress.update(self._moving, total=total_bytes, description=self._description())
        self._progress.start()

    def _description(self) -> str:
        return f"{self._verb} {self._done}/{self._files} {FILES}"

    def hashed(self, count: int) -> None:
        self._progress.advance(self._hashing, count)

    def moved(self, count: int) -> None:
        self._progress.advance(self._moving, count)

    def drop(self, count: int) -> None:
        with self._lock:
            task = self._progress.tasks[self._moving]
            self._progress.update(self._moving, total=max(0.0, (task.total or 0) - count))

    def finished(self, line: str) -> None:
        with self._lock:
            self._done += 1
            description = self._description()
        self._progress.update(self._moving, description=description)
        self._progress.console.print(line, markup=False, highlight=False)

    def note(self, line: str) -> None:
        self._progress.console.print(line, markup=False, highlight=False)

    def close(self) -> None:
        self._progress.stop()


def display_for(stream: IO[str] | None = None) -> Display:
    """Bars on a terminal, plain lines when the output goes to a file or a pipe."""
    stream = stream or sys.stdout
    return RichDisplay() if stream.isatty() else PlainDisplay()
