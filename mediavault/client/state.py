"""What earlier runs did, so that a re-run finishes their work and sends nothing twice.

One SQLite file in the user's state directory. A record is keyed by a file's path, size,
modification time and the SHA-256 its bytes had when hashed (every run hashes again, so changed
bytes are never taken for the ones sent); while its upload is unfinished it holds the upload's
media id, the presigned answer and the ETags of the parts already stored.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediavault.client.files import LocalFile

SCHEMA = """
CREATE TABLE IF NOT EXISTS uploads (
    server TEXT NOT NULL,            -- the API's URL and the user's id
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    phase TEXT NOT NULL,             -- hashed | starting | started | sent | done
    media_id TEXT,
    upload TEXT,                     -- the POST /api/uploads answer while unfinished
    parts TEXT NOT NULL DEFAULT '{}',  -- part number -> ETag of the parts stored
    updated_at REAL NOT NULL,
    PRIMARY KEY (server, path, size, mtime_ns, sha256)
)
"""
UNFINISHED = ("starting", "started", "sent")


@dataclass(frozen=True)
class Hashed:
    """A local file and the SHA-256 of its bytes as they were read."""

    file: LocalFile
    sha256: str


@dataclass(frozen=True)
class Record:
    """What is known of one file's bytes on one server."""

    phase: str
    media_id: str | None
    upload: dict[str, Any] | None
    parts: dict[int, str]


class ResumeState:
    """The state file; safe to use from several threads."""

    def __init__(self, path: Path, server: str) -> None:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(mode=0o600, exist_ok=True)  # presigned URLs are kept here: the user's alone
        self.server = server
        self._lock = threading.Lock()
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        # WAL: each write is durable once it returns, whatever kills the process afterwards.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)

    def close(self) -> None:
        """Close the file."""
        with self._lock:
            self._db.close()

    def _key(self, item: Hashed) -> tuple[str, str, int, int, str]:
        file = item.file
        return (self.server, str(file.path), file.size, file.mtime_ns, item.sha256)

    def get(self, item: Hashed) -> Record | None:
        """The record of these bytes at this path, if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT phase, media_id, upload, parts FROM uploads WHERE server = ? AND path = ?"
                " AND size = ? AND mtime_ns = ? AND sha256 = ?",
                self._key(item),
            ).fetchone()
        if row is None:
            return None
        parts = {int(number): etag for number, etag in json.loads(row[3]).items()}
        return Record(row[0], row[1], json.loads(row[2]) if row[2] else None, parts)

    def hashed(self, item: Hashed) -> list[str]:
        """Note the file's bytes; the media ids of unfinished uploads of its earlier contents.

        Those uploads will never be finished: the caller aborts them, and they are forgotten.
        """
        key = self._key(item)
        with self._lock:
            stale = self._db.execute(
                "SELECT media_id FROM uploads WHERE server = ? AND path = ? AND media_id IS NOT"
                " NULL AND phase IN ('starting', 'started', 'sent')"
                " AND (size, mtime_ns, sha256) IS NOT (?, ?, ?)",
                key,
            ).fetchall()
            self._db.execute(
                "DELETE FROM uploads WHERE server = ? AND path = ?"
                " AND (size, mtime_ns, sha256) IS NOT (?, ?, ?)",
                key,
            )
            self._db.execute(
                "INSERT INTO uploads (server, path, size, mtime_ns, sha256, phase, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'hashed', ?) ON CONFLICT DO NOTHING",
                (*key, time.time()),
            )
        return [str(row[0]) for row in stale]

    def _set(self, item: Hashed, assignments: str, values: tuple[object, ...]) -> None:
        with self._lock:
            self._db.execute(
                f"UPDATE uploads SET {assignments}, updated_at = ?"  # noqa: S608  (fixed text)
                " WHERE server = ? AND path = ? AND size = ? AND mtime_ns = ? AND sha256 = ?",
                (*values, time.time(), *self._key(item)),
            )

    def starting(self, item: Hashed) -> None:
        """An upload is being asked for: if its answer is lost, the next run knows."""
        self._set(item, "phase = 'starting'", ())

    def started(self, item: Hashed, media_id: str, upload: dict[str, Any]) -> None:
        """The server's answer: where the bytes go."""
        self._set(item, "phase = 'started', media_id = ?, upload = ?, parts = '{}'",
                  (media_id, json.dumps(upload)))  # fmt: skip

    def refreshed(self, item: Hashed, upload: dict[str, Any]) -> None:
        """The same upload with fresh URLs; the parts already stored stay recorded."""
        self._set(item, "phase = 'started', upload = ?", (json.dumps(upload),))

    def part_sent(self, item: Hashed, number: int, etag: str) -> None:
        """One part is in storage."""
        self._set(item, "parts = json_set(parts, '$.\"' || ? || '\"', ?)", (number, etag))

    def sent(self, item: Hashed) -> None:
        """Every byte is in storage; only `complete` is left."""
        self._set(item, "phase = 'sent'", ())

    def done(self, item: Hashed, media_id: str) -> None:
        """The upload is finished (or the server already had the file)."""
        self._set(item, "phase = 'done', media_id = ?, upload = NULL, parts = '{}'", (media_id,))

    def forget_upload(self, item: Hashed) -> None:
        """The unfinished upload was given up: start afresh next time."""
        self._set(item, "phase = 'hashed', media_id = NULL, upload = NULL, parts = '{}'", ())
