"""End-to-end checksums: the SHA-256 a client announces, duplicates by checksum, and backfill.

A client may announce the SHA-256 of the whole file when it starts an upload. Storage then checks
a single PUT against it (the checksum header is signed into the URL) and each part of a multipart
upload against the part's own checksum; the worker hashes every original while it downloads it,
stores that, and fails an upload whose bytes are not the announced ones.
"""

from __future__ import annotations

import base64
import logging
import re
import time
from typing import TYPE_CHECKING, Any, Final

from mediavault.errors import BadRequest, StorageError

if TYPE_CHECKING:
    from mediavault.db import DictConnection, Pool
    from mediavault.storage import Storage

logger = logging.getLogger(__name__)

_SHA256_HEX = re.compile(r"[0-9a-f]{64}")
# S3's name for a multipart upload whose every part carries x-amz-checksum-sha256.
CHECKSUM_ALGORITHM: Final = "SHA256"


def parse_sha256(value: object) -> str | None:
    """An optional hex SHA-256 (any case) as lower-case hex; BadRequest when malformed."""
    if value is None:
        return None
    if not isinstance(value, str) or not _SHA256_HEX.fullmatch(value.lower()):
        raise BadRequest(
            "sha256 must be the file's SHA-256 as 64 hexadecimal digits", code="invalid_sha256"
        )
    return value.lower()


def parse_flag(value: object, field: str) -> bool:
    """An optional boolean, false when absent."""
    if value is None:
        return False
    if not isinstance(value, bool):
        raise BadRequest(f"{field} must be true or false")
    return value


def to_base64(hex_digest: str) -> str:
    """The base64 form that S3's x-amz-checksum-sha256 header takes."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def find_duplicate(conn: DictConnection, owner_id: str, sha256: str) -> str | None:
    """The id of the owner's media whose stored bytes hash to `sha256`, if there is one.

    Stored: `complete` saw the bytes whole (storage checked them against the checksum announced
    with them), or the worker took them up; the worker's own hash, once made, is what counts. A
    checksum merely announced, for bytes that never came, would otherwise turn the real upload
    of that file away.
    """
    row = conn.execute(
        "SELECT id FROM media WHERE owner_id = %s AND coalesce(sha256, announced_sha256) = %s"
        " AND status <> 'failed' AND (status <> 'pending' OR bytes_stored_at IS NOT NULL)"
        " ORDER BY status = 'ready' DESC, created_at LIMIT 1",
        (owner_id, sha256),
    ).fetchone()
    return None if row is None else str(row["id"])


def mismatch(announced: str | None, actual: str) -> str | None:
    """Why bytes are refused when they are not the announced ones; None when they match."""
    if announced is None or announced == actual:
        return None
    return (
        f"checksum mismatch: {announced} was announced but the file's SHA-256 is {actual};"
        " the bytes changed on the way, upload the file again"
    )


def backfill(
    pool: Pool, storage: Storage, *, batch: int = 100, budget_seconds: float = 120.0
) -> int:
    """Hash ready originals stored before checksums existed, a batch at a time, within a budget.

    Each row looked at is stamped, so a missing object is not retried before the others.
    """
    from mediavault.storage import ObjectMissing

    deadline = time.monotonic() + budget_seconds
    filled = 0
    with pool.connection() as conn:
        started = conn.execute("SELECT now() AS now").fetchone()
    assert started is not None
    while time.monotonic() < deadline:
        with pool.connection() as conn:
            rows = _next_batch(conn, started["now"], batch)
        if not rows:
            break
        for row in rows:
            if time.monotonic() >= deadline:
                break
            try:
                digest = storage.sha256_of(row["original_key"])
            except ObjectMissing:
                logger.warning("original missing; no checksum", extra={"media_id": str(row["id"])})
                continue
            except (OSError, StorageError) as error:
                logger.warning("checksum backfill stopped: %s", error)
                return filled
            with pool.connection() as conn:
                filled += conn.execute(
                    "UPDATE media SET sha256 = %s WHERE id = %s AND sha256 IS NULL"
                    " AND original_key = %s",
                    (digest, row["id"], row["original_key"]),
                ).rowcount
    if filled:
        logger.info("checksums computed for %d earlier originals", filled)
    return filled


def _next_batch(conn: DictConnection, since: object, limit: int) -> list[dict[str, Any]]:
    return conn.execute(
        "WITH batch AS (SELECT id FROM media WHERE status = 'ready' AND sha256 IS NULL"
        "   AND original_key IS NOT NULL AND (reconciled_at IS NULL OR reconciled_at < %s)"
        "   ORDER BY reconciled_at NULLS FIRST, created_at LIMIT %s FOR UPDATE SKIP LOCKED)"
        " UPDATE media m SET reconciled_at = now() FROM batch WHERE m.id = batch.id"
        " RETURNING m.id, m.original_key",
        (since, limit),
    ).fetchall()
