"""Sending one file's bytes: a part read and PUT with its checksum, and the batch's clocks."""

from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mediavault.client.errors import FileChanged
from mediavault.client.files import LocalFile
from mediavault.client.progress import Display
from mediavault.client.transfer import Transfers


@dataclass
class SendingClock:
    """When the batch's first byte went out and its last one arrived: the transfer's time."""

    first: float | None = None
    last: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tick(self) -> None:
        """Bytes moved now."""
        now = time.monotonic()
        with self.lock:
            self.first = now if self.first is None else self.first
            self.last = now

    @property
    def seconds(self) -> float:
        """Seconds between the first and the last byte (0 when nothing was sent)."""
        return 0.0 if self.first is None or self.last is None else self.last - self.first


@dataclass
class ByteCounter:
    """Bytes one file has sent, fed to the display and the batch's clock too."""

    display: Display
    clock: SendingClock
    total: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, count: int) -> None:
        with self.lock:
            self.total += count
        self.clock.tick()
        self.display.moved(count)


def send_part(
    transfers: Transfers,
    path: Path,
    part_size: int,
    part: dict[str, Any],
    *,
    checksums: bool,
    progress: Callable[[int], None],
) -> tuple[int, str]:
    """Read one part of a file and PUT it (with its SHA-256 when asked); its number and ETag."""
    number, size = int(part["part_number"]), int(part["size"])
    with path.open("rb") as source:
        source.seek((number - 1) * part_size)
        data = source.read(size)
    if len(data) != size:
        raise FileChanged(f"{path.name} became shorter while it was uploaded")
    headers = {}
    if checksums:
        digest = hashlib.sha256(data).digest()
        headers["x-amz-checksum-sha256"] = base64.b64encode(digest).decode()
    return number, transfers.put_bytes(part["url"], headers, data, progress)


def unchanged(file: LocalFile) -> None:
    """FileChanged unless the file still has the size and time it had when it was hashed."""
    stat = file.path.stat()
    if (stat.st_size, stat.st_mtime_ns) != (file.size, file.mtime_ns):
        raise FileChanged(f"{file.name} changed after it was hashed; run again to send it")
