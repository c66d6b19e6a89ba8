"""What earlier runs did, so that a re-run finishes their work and sends nothing twice.

One SQLite file in the user's state directory. A file is known by its path, size and
modification time; its record keeps the SHA-256 computed for it, and while its upload is
unfinished the upload's media id, the presigned answer and the ETags of the parts already sent.
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
CREATE TABLE IF NOT EXISTS files (
    server TEXT NOT NULL,            -- the API's URL and the user's id
    path TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    phase TEXT NOT NULL,             -- hashed | starting | started | sent | done
    media_id TEXT,
    upload TEXT,                     -- the POST /api/uploads answer while unfinished
    parts TEXT NOT NULL DEFAULT '{}',  -- part number -> ETag of the parts sent
    updated_at REAL NOT NULL,
    PRIMARY KEY (server, path, size, mtime_ns)
)
"""


@dataclass(frozen=True)
class Record:
    """What is known of one local file on one server."""

    sha256: str
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

    def _key(self, file: LocalFile) -> tuple[str, str, int, int]:
        return (self.server, str(file.path), file.size, file.mtime_ns)

    def get(self, file: LocalFile) -> Record | None:
        """The record of this file as it is now (same size and time), if any."""
        with self._lock:
            row = self._db.execute(
                "SELECT sha256, phase, media_id, upload, parts FROM files"
                " WHERE server = ? AND path = ? AND size = ? AND mtime_ns = ?",
                self._key(file),
            ).fetchone()
        if row is None:
            return None
        parts = {int(number): etag for number, etag in json.loads(row[4]).items()}
        return Record(row[0], row[1], row[2], json.loads(row[3]) if row[3] else None, parts)

    def hashed(self, file: LocalFile, sha256: str) -> None:
        """The file's checksum; nothing of an upload yet."""
        with self._lock:
            self._db.execute(
                "INSERT INTO files (server, path, size, mtime_ns, sha256, phase, updated_at)"
                " VALUES (?, ?, ?, ?, ?, 'hashed', ?) ON CONFLICT DO UPDATE SET"
                " sha256 = excluded.sha256, phase = 'hashed', media_id = NULL, upload = NULL,"
                " parts = '{}', updated_at = excluded.updated_at",
                (*self._key(file), sha256, time.time()),
            )

    def _set(self, file: LocalFile, assignments: str, values: tuple[object, ...]) -> None:
        with self._lock:
            self._db.execute(
                f"UPDATE files SET {assignments}, updated_at = ?"  # noqa: S608  (fixed text)
                " WHERE server = ? AND path = ? AND size = ? AND mtime_ns = ?",
                (*values, time.time(), *self._key(file)),
            )

    def starting(self, file: LocalFile) -> None:
        """An upload is being asked for: if its answer is lost, the next run knows."""
        self._set(file, "phase = 'starting'", ())

    def started(self, file: LocalFile, media_id: str, upload: dict[str, Any]) -> None:
        """The server's answer: where the bytes go."""
        self._set(file, "phase = 'started', media_id = ?, upload = ?, parts = '{}'",
                  (media_id, json.dumps(upload)))  # fmt: skip

    def part_sent(self, file: LocalFile, number: int, etag: str) -> None:
        """One part arrived in storage."""
        with self._lock:
            self._db.execute(
                "UPDATE files SET parts = json_set(parts, '$.' || ?, ?), updated_at = ?"
                " WHERE server = ? AND path = ? AND size = ? AND mtime_ns = ?",
                (str(number), etag, time.time(), *self._key(file)),
            )

    def sent(self, file: LocalFile) -> None:
        """Every byte is in storage; only `complete` is left."""
        self._set(file, "phase = 'sent'", ())

    def done(self, file: LocalFile, media_id: str) -> None:
        """The upload is finished (or the server already had the file)."""
        self._set(file, "phase = 'done', media_id = ?, upload = NULL, parts = '{}'", (media_id,))

    def forget_upload(self, file: LocalFile) -> None:
        """The unfinished upload was given up: start afresh next time."""
        self._set(file, "phase = 'hashed', media_id = NULL, upload = NULL, parts = '{}'", ())
