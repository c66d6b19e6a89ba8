"""SHA-256 of local files, streamed in large reads (hashlib releases the GIL while it hashes)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from pathlib import Path

from mediavault.client.errors import FileChanged, Interrupted

CHUNK = 1024 * 1024


def sha256_file(
    path: Path,
    size: int,
    on_progress: Callable[[int], None] = lambda _: None,
    stop: threading.Event | None = None,
) -> str:
    """The hex SHA-256 of exactly `size` bytes of the file; FileChanged if it is not that size."""
    digest = hashlib.sha256()
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    read = 0
    with path.open("rb", buffering=0) as file:
        while count := file.readinto(buffer):
            digest.update(view[:count])
            read += count
            on_progress(count)
            if stop is not None and stop.is_set():
                raise Interrupted("stopped")
    if read != size:
        raise FileChanged(f"{path} changed while it was read ({read} bytes, {size} expected)")
    return digest.hexdigest()
