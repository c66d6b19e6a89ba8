"""`mediavault reconcile`: repair what events alone cannot — abandoned and stuck uploads."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mediavault.config import QueueSettings
    from mediavault.db import Pool
    from mediavault.services import Services
    from mediavault.storage import Storage

logger = logging.getLogger(__name__)

# How long one pass may spend hashing earlier originals (the CronJob kills a pass at 5 minutes).
BACKFILL_SECONDS = 120.0
# Rate counters whose window ended a day ago hold nothing any limit still reads (windows are
# at most an hour).
STALE_COUNTER_SECONDS = 24 * 3600


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
    pool: Pool,
    storage: Storage,
    queue: QueueSettings,
    pending_after: int,
    stale_after: int,
    *,
    batch: int = 1000,
) -> list[str]:
    """Publish a fresh event for uploads whose job went silent or whose event was lost.

    Silent jobs and waiting uploads are looked up separately: no number of abandoned uploads
    can keep a stuck job from being found.
    """
    from mediavault import jobs

    with pool.connection() as conn:
        silent = jobs.stale_jobs(conn, stale_after, batch)
        pending = jobs.pending_to_check(conn, pending_after, batch)
    # A pending upload without its object is still uploading, or abandoned (cleaned elsewhere).
    arrived = [row for row in pending if storage.exists(row["source_key"])]
    requeued = []
    for row in [*silent, *arrived]:
        enqueue(queue, storage.bucket, row)
        requeued.append(str(row["id"]))
        logger.info("re-enqueued", extra={"media_id": str(row["id"])})
    return requeued


def enqueue(queue: QueueSettings, bucket: str, row: dict[str, Any], defer_seconds: int = 0) -> None:
    """Publish the event that gets one media processed (now, or after a delay)."""
    from mediavault.queue import object_created_message, publish

    message = object_created_message(bucket, row["source_key"], row["size_bytes"])
    publish(queue, message, defer_seconds=defer_seconds)


def reconcile_once(services: Services) -> None:
    """One pass: abandoned uploads, lost events, silent jobs, then older originals' checksums."""
    from mediavault.checksums import backfill
    from mediavault.ratelimits import forget_stale

    settings = services.settings
    abandoned = clean_abandoned_uploads(
        services.pool, services.storage, settings.uploads.pending_max_age_seconds
    )
    # A pending upload whose object has been there a minute lost its event.
    requeued = requeue_stuck(
        services.pool, services.storage, settings.queue,
        pending_after=60, stale_after=settings.processing.stale_after_seconds,
    )  # fmt: skip
    hashed = backfill(services.pool, services.storage, budget_seconds=BACKFILL_SECONDS)
    with services.pool.connection() as conn:
        counters = forget_stale(conn, STALE_COUNTER_SECONDS)
    logger.info(
        "reconcile: %d abandoned uploads removed, %d re-enqueued, %d checksums computed,"
        " %d stale rate counters dropped",
        abandoned.removed, len(requeued), hashed, counters,
    )  # fmt: skip


def reconcile_forever(services: Services, every_seconds: float) -> None:
    """A pass every so often (the first after one interval) until SIGTERM/SIGINT."""
    import signal
    import threading

    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    while not stop.wait(every_seconds):
        try:
            reconcile_once(services)
        except Exception:  # a dependency is down: the next pass tries again
            logger.exception("reconcile pass failed")
