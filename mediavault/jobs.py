"""Processing state in PostgreSQL: claiming an upload, heartbeats, and how a job ends."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from mediavault.db import DictConnection


@dataclass(frozen=True)
class Claim:
    """An upload this worker now owns: what was announced for it, and which attempt this is."""

    media_id: str
    owner_id: str
    upload_key: str | None  # the staging object, until the checked bytes are promoted
    original_key: str | None  # set once promoted: then the job reads the original itself
    size_bytes: int
    content_type: str
    attempts: int
    announced_sha256: str | None = None  # what the client said the bytes hash to

    @property
    def source_key(self) -> str:
        """The object the job reads."""
        key = self.original_key or self.upload_key
        assert key is not None, "a claimable media has an upload or an original"
        return key


# One statement decides who processes an upload: a pending row, or a processing row whose job has
# gone silent (its worker died), moves to processing; a duplicate or concurrent event finds none.
# Fairness: an owner who already has `per_owner` jobs running waits, so that one person's long
# queue cannot hold every worker while others' uploads wait behind it.
_CLAIM = """
WITH target AS (
    SELECT m.id FROM media m LEFT JOIN processing_jobs j ON j.media_id = m.id
    WHERE (m.upload_key = %(key)s OR m.original_key = %(key)s)
      AND (m.status = 'pending'
           OR (m.status = 'processing'
               AND (j.heartbeat_at IS NULL
                    OR j.heartbeat_at < now() - make_interval(secs => %(stale)s))))
      AND (SELECT count(*) FROM media o JOIN processing_jobs r ON r.media_id = o.id
           WHERE o.owner_id = m.owner_id AND o.status = 'processing' AND o.id <> m.id
             AND r.state = 'running'
             AND r.heartbeat_at >= now() - make_interval(secs => %(stale)s)) < %(per_owner)s
    FOR UPDATE OF m SKIP LOCKED
), moved AS (
    UPDATE media m SET status = 'processing', error = NULL, updated_at = now()
    FROM target WHERE m.id = target.id
    RETURNING m.id, m.owner_id, m.upload_key, m.original_key, m.size_bytes, m.content_type,
        m.announced_sha256
), job AS (
    INSERT INTO processing_jobs (media_id, state, attempts, started_at, heartbeat_at, worker_id)
    SELECT id, 'running', 1, now(), now(), %(worker)s FROM moved
    ON CONFLICT (media_id) DO UPDATE SET state = 'running',
        attempts = processing_jobs.attempts + 1, progress = 0, error = NULL,
        started_at = now(), heartbeat_at = now(), finished_at = NULL, updated_at = now(),
        worker_id = %(worker)s
    RETURNING media_id, attempts
)
SELECT moved.*, job.attempts FROM moved JOIN job ON job.media_id = moved.id
"""

# What became of the media behind a key that could not be claimed.
Unclaimed = Literal["unknown", "final", "waiting", "running"]


def _claim_of(row: dict[str, Any]) -> Claim:
    return Claim(
        media_id=str(row["id"]),
        owner_id=str(row["owner_id"]),
        upload_key=row["upload_key"],
        original_key=row["original_key"],
        size_bytes=int(row["size_bytes"]),
        content_type=row["content_type"],
        attempts=int(row["attempts"]),
        announced_sha256=row["announced_sha256"],
    )


def claim(
    conn: DictConnection,
    key: str,
    stale_after_seconds: int,
    per_owner: int = 1_000_000,
    worker_id: str | None = None,
) -> Claim | None:
    """Take the upload stored at this key for processing; None if it is not to be taken now."""
    params = {"key": key, "stale": stale_after_seconds, "per_owner": per_owner, "worker": worker_id}
    row = conn.execute(_CLAIM, params).fetchone()
    return None if row is None else _claim_of(row)


def take_back(conn: DictConnection, worker_id: str) -> list[dict[str, Any]]:
    """Jobs a worker of this id was running when it died: claimable again at once."""
    return conn.execute(
        "UPDATE processing_jobs j SET heartbeat_at = NULL, state = 'queued', updated_at = now()"
        " FROM media m WHERE m.id = j.media_id AND m.status = 'processing'"
        " AND j.state = 'running' AND j.worker_id = %s"
        " RETURNING m.id, coalesce(m.original_key, m.upload_key) AS source_key, m.size_bytes",
        (worker_id,),
    ).fetchall()


def unclaimed(conn: DictConnection, key: str, stale_after_seconds: int) -> Unclaimed:
    """Why a key was not claimed: no media has it, it is final, it waits its turn, or it runs."""
    row = conn.execute(
        "SELECT m.status, j.heartbeat_at >= now() - make_interval(secs => %s) AS alive"
        " FROM media m LEFT JOIN processing_jobs j ON j.media_id = m.id"
        " WHERE m.upload_key = %s OR m.original_key = %s",
        (stale_after_seconds, key, key),
    ).fetchone()
    if row is None:
        return "unknown"
    if row["status"] in ("ready", "failed"):
        return "final"
    if row["status"] == "processing" and row["alive"]:
        return "running"
    return "waiting"


def current(conn: DictConnection, media_id: str) -> Claim | None:
    """The claim a worker made for this media, for the Kubernetes Job that runs it."""
    row = conn.execute(
        "SELECT m.id, m.owner_id, m.upload_key, m.original_key, m.size_bytes, m.content_type,"
        " m.announced_sha256, coalesce(j.attempts, 1) AS attempts FROM media m"
        " LEFT JOIN processing_jobs j ON j.media_id = m.id"
        " WHERE m.id = %s AND m.status = 'processing'",
        (media_id,),
    ).fetchone()
    return None if row is None else _claim_of(row)


JobState = Literal["alive", "superseded", "gone"]


def heartbeat(
    conn: DictConnection, media_id: str, attempt: int, progress: float | None = None
) -> JobState:
    """The job of this attempt is alive (and this far along).

    "superseded" when another attempt took the job over (this one was thought dead), "gone"
    when the media was deleted: either way this attempt must stop.
    """
    updated = conn.execute(
        "UPDATE processing_jobs SET heartbeat_at = now(),"
        " progress = coalesce(%s, progress), updated_at = now()"
        " WHERE media_id = %s AND state = 'running' AND attempts = %s",
        (None if progress is None else max(0.0, min(1.0, progress)), media_id, attempt),
    ).rowcount
    if updated:
        return "alive"
    exists = conn.execute("SELECT 1 FROM media WHERE id = %s", (media_id,)).fetchone()
    return "superseded" if exists else "gone"


def record_original(conn: DictConnection, media_id: str, key: str, content_type: str) -> None:
    """The checked bytes now live at their served key, with the type they were found to be."""
    conn.execute(
        "UPDATE media SET original_key = %s, content_type = %s, updated_at = now() WHERE id = %s",
        (key, content_type, media_id),
    )


def record_encoder(conn: DictConnection, media_id: str, encoder: str) -> None:
    """Which encoder this job uses (known before the encode ends)."""
    conn.execute(
        "UPDATE processing_jobs SET encoder = %s, updated_at = now() WHERE media_id = %s",
        (encoder, media_id),
    )


def finish_ready(
    conn: DictConnection,
    media_id: str,
    attempt: int,
    media_fields: dict[str, Any],
    *,
    encoder: str | None,
    timings: dict[str, float],
) -> JobState:
    """Mark the media ready with what this attempt learnt.

    "gone" if the media was deleted meanwhile, "superseded" if another attempt holds the job
    (it writes the same keys: this one leaves them alone); "alive" when done.
    """
    allowed = {
        "kind", "width", "height", "duration_ms", "video_codec", "audio_codec", "video_bitrate",
        "audio_bitrate", "frame_rate", "original_size_bytes", "playback_size_bytes",
        "playback_key", "thumbnail_key", "preview_key", "content_type",
        "thumbnail_jpeg_key", "preview_jpeg_key", "web_key", "web_size_bytes", "original_codecs",
        "playback_codecs", "web_codecs", "taken_at", "taken_at_offset", "camera_make",
        "camera_model", "latitude", "longitude", "sha256", "shared_original_key",
    }  # fmt: skip
    fields = {k: v for k, v in media_fields.items() if k in allowed}
    assignments = "".join(f", {name} = %({name})s" for name in fields)
    updated = conn.execute(
        f"UPDATE media SET status = 'ready', error = NULL, updated_at = now(){assignments}"  # noqa: S608  (names from the allow-list above)
        " WHERE id = %(media_id)s AND status = 'processing' AND EXISTS (SELECT 1 FROM"
        " processing_jobs WHERE media_id = %(media_id)s AND attempts = %(attempt)s)",
        {**fields, "media_id": media_id, "attempt": attempt},
    ).rowcount
    if not updated:
        exists = conn.execute("SELECT 1 FROM media WHERE id = %s", (media_id,)).fetchone()
        return "superseded" if exists else "gone"
    conn.execute(
        "UPDATE processing_jobs SET state = 'succeeded', encoder = coalesce(%s, encoder),"
        " progress = 1, finished_at = now(), heartbeat_at = now(), timings = %s,"
        " updated_at = now() WHERE media_id = %s",
        (encoder, json.dumps(timings), media_id),
    )
    return "alive"


def holds(conn: DictConnection, media_id: str, attempt: int) -> bool:
    """True while this attempt is the one that holds the media's job."""
    row = conn.execute(
        "SELECT 1 FROM media m JOIN processing_jobs j ON j.media_id = m.id"
        " WHERE m.id = %s AND m.status = 'processing' AND j.attempts = %s",
        (media_id, attempt),
    ).fetchone()
    return row is not None


def fail(conn: DictConnection, media_id: str, attempt: int, reason: str, *, removed: bool) -> bool:
    """The media cannot be processed: say why; `removed` when its bytes are deleted.

    Only the attempt that holds the job may fail it: False (and nothing changed) when another
    attempt has taken the job over meanwhile.
    """
    updated = conn.execute(
        "UPDATE media SET status = 'failed', error = %s, updated_at = now(),"
        " upload_key = CASE WHEN %s THEN NULL ELSE upload_key END,"
        " original_key = CASE WHEN %s THEN NULL ELSE original_key END"
        " WHERE id = %s AND status = 'processing' AND EXISTS (SELECT 1 FROM processing_jobs"
        "  WHERE media_id = %s AND attempts = %s)",
        (reason[:1000], removed, removed, media_id, media_id, attempt),
    ).rowcount
    if updated:
        conn.execute(
            "UPDATE processing_jobs SET state = 'failed', error = %s, finished_at = now(),"
            " updated_at = now() WHERE media_id = %s",
            (reason[:1000], media_id),
        )
    return updated > 0


def release(conn: DictConnection, media_id: str, attempt: int, reason: str) -> None:
    """A transient failure: leave the media processing but claimable by the redelivery."""
    conn.execute(
        "UPDATE processing_jobs SET state = 'queued', heartbeat_at = NULL, error = %s,"
        " updated_at = now() WHERE media_id = %s AND attempts = %s",
        (reason[:1000], media_id, attempt),
    )


def reset_for_retry(conn: DictConnection, owner_id: str, media_id: str) -> dict[str, Any] | None:
    """A failed media that kept its bytes back to pending with fresh attempts; else None."""
    row = conn.execute(
        "UPDATE media SET status = 'pending', error = NULL, updated_at = now()"
        " WHERE id = %s AND owner_id = %s AND status = 'failed'"
        " AND coalesce(original_key, upload_key) IS NOT NULL"
        " RETURNING coalesce(original_key, upload_key) AS source_key, size_bytes",
        (media_id, owner_id),
    ).fetchone()
    if row is not None:
        conn.execute(
            "UPDATE processing_jobs SET attempts = 0, state = 'queued', error = NULL,"
            " heartbeat_at = NULL, updated_at = now() WHERE media_id = %s",
            (media_id,),
        )
    return row


def stale_jobs(conn: DictConnection, stale_after_seconds: int, limit: int) -> list[dict[str, Any]]:
    """Media processing with a job gone silent (its worker or Job died), the oldest first."""
    return conn.execute(
        "SELECT m.id, coalesce(m.original_key, m.upload_key) AS source_key, m.size_bytes"
        " FROM media m LEFT JOIN processing_jobs j ON j.media_id = m.id"
        " WHERE m.status = 'processing' AND (j.heartbeat_at IS NULL"
        "       OR j.heartbeat_at < now() - make_interval(secs => %s))"
        " ORDER BY j.heartbeat_at NULLS FIRST LIMIT %s",
        (stale_after_seconds, limit),
    ).fetchall()


def pending_to_check(
    conn: DictConnection, pending_after_seconds: int, limit: int
) -> list[dict[str, Any]]:
    """Single-PUT uploads pending a while whose event may be lost, least recently checked first.

    Each row is stamped as checked, so that successive passes walk through all of them however
    many abandoned uploads there are.
    """
    return conn.execute(
        "WITH batch AS (SELECT id FROM media WHERE status = 'pending' AND upload_id IS NULL"
        "   AND upload_key IS NOT NULL AND updated_at < now() - make_interval(secs => %s)"
        "   ORDER BY reconciled_at NULLS FIRST, created_at LIMIT %s FOR UPDATE SKIP LOCKED)"
        " UPDATE media m SET reconciled_at = now() FROM batch WHERE m.id = batch.id"
        " RETURNING m.id, m.upload_key AS source_key, m.size_bytes",
        (pending_after_seconds, limit),
    ).fetchall()
