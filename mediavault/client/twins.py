"""Files of one batch with the same bytes: the first in order is sent, the others wait for it."""

from __future__ import annotations

import threading
from collections.abc import Iterable

from mediavault.client.errors import Interrupted


class Twins:
    """Files of one batch with the same bytes: the first in order is sent, the others wait for it.

    A file learns whether an earlier one has its checksum once every earlier file is hashed
    (hashing runs ahead in order, so this costs no waiting in practice).
    """

    def __init__(self, refused: Iterable[int] = ()) -> None:
        self._changed = threading.Condition()
        self._hashed: set[int] = set(refused)
        self._prefix = 0  # every file before this index is hashed (or refused)
        self._first: dict[str, int] = {}  # checksum -> smallest index having it
        self._finished: dict[int, str | None] = {}  # index -> media id it ended in, if any
        self._advance()

    def _advance(self) -> None:
        while self._prefix in self._hashed:
            self._prefix += 1

    def hashed(self, index: int, digest: str | None) -> None:
        """A file is hashed (digest None: it could not be)."""
        with self._changed:
            self._hashed.add(index)
            if digest is not None:
                self._first[digest] = min(index, self._first.get(digest, index))
            self._advance()
            self._changed.notify_all()

    def first(self, index: int, digest: str, stop: threading.Event) -> int:
        """The index of the first file of the batch with these bytes (this one, or earlier)."""
        with self._changed:
            while self._prefix <= index:
                self._wait(stop)
            return self._first[digest]

    def finish(self, index: int, media_id: str | None) -> None:
        """A file is done: in this media, or in none."""
        with self._changed:
            self._finished[index] = media_id
            self._changed.notify_all()

    def media_of(self, index: int, stop: threading.Event) -> str | None:
        """Wait for a file to be done; the media it is in, if any."""
        with self._changed:
            while index not in self._finished:
                self._wait(stop)
            return self._finished[index]

    def _wait(self, stop: threading.Event) -> None:
        if stop.is_set():
            raise Interrupted("stopped")
        self._changed.wait(0.5)
