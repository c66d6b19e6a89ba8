"""`mediavault reconcile`: repair what events alone cannot — abandoned and stuck uploads."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mediavault.config import QueueSettings
    from mediavault.db import Pool
    from mediavault.storage import Storage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class AbandonedUploads:
    """What the clean-up of old pending uploads did."""

    removed: int
    arrived: list[str]  # pending rows whose object is there: their event was lost


def clean_abandoned_uploads(pool: Pool, storage: Storage, max_age_seconds: int) -> AbandonedUploads:
    """Delete pending uploads older than the age whose bytes never arrived (parts included)."""
    with pool.connection() as conn:
        rows = conn.execute(
            "SELECT id, upload_key, upload_id FROM media WHERE status = 'pending'"
            " AND created_at < now() - make_interval(secs => %s) ORDER BY created_at",
            (max_age_seconds,),
        ).fetchall()
    removed, arrived = 0, []
    for row in rows:
        if row["upload_id"] is None and storage.exists(row["upload_key"]):
            arrived.append(str(row["id"]))
            continue
        if row["upload_id"] is not None:
            storage.abort_multipart(row["upload_key"], row["upload_id"])
        with pool.connection() as conn:
            deleted = conn.execute(
                "DELETE FROM media WHERE id = %s AND status = 'pending'", (row["id"],)
            ).rowcount
        removed += deleted
        logger.info("removed abandoned upload", extra={"media_id": str(row["id"])})
    return AbandonedUploads(removed=removed, arrived=arrived)


def requeue_stuck(
    pool: Pool, storage: Storage, queue: QueueSettings, pending_after: int, stale_after: int
) -> list[str]:
    """Publish a fresh event for uploads whose event was lost or whose job went silent."""
    from mediavault import jobs
    from mediavault.queue import object_created_message, publish

    with pool.connection() as conn:
        rows = jobs.stuck(conn, pending_after, stale_after)
    requeued = []
    for row in rows:
        if row["status"] == "pending" and not storage.exists(row["source_key"]):
            continue  # still uploading, or abandoned: clean_abandoned_uploads decides
        publish(queue, object_created_message(storage.bucket, row["source_key"], row["size_bytes"]))
        requeued.append(str(row["id"]))
        logger.info("re-enqueued", extra={"media_id": str(row["id"])})
    return requeued
