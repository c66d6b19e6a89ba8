"""`mediavault share-originals`: the originals share links hand out, for media processed before.

Media processed before share links handed out originals without their place have no
`shared_original_key`, and a link that does not include places hands out no original for them.
This looks at each such original once, as a job would (same limits and sandbox), and records the
original itself or a copy without the place. Safe to stop and run again at any point: a media is
recorded only when its copy is stored, and only if its row has not changed meanwhile.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediavault.commands import Command
from mediavault.errors import StorageError
from mediavault.storage import derived_key
from processing.errors import ProcessingError, TransientProcessingError

if TYPE_CHECKING:
    from mediavault.config import Settings
    from mediavault.services import Services

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Backfill:
    """What one run did."""

    clean: int  # originals that name no place: handed out as they are
    copied: int  # copies without the place stored
    unchecked: int  # could not be looked at now: a later run tries again


def backfill(services: Services, *, limit: int = 1000) -> Backfill:
    """Look at up to `limit` ready originals that links cannot hand out yet."""
    from processing.scratch import scratch_directory

    with services.pool.connection() as conn:
        rows = conn.execute(
            "SELECT id, original_key, content_type, latitude FROM media WHERE status = 'ready'"
            " AND original_key IS NOT NULL AND shared_original_key IS NULL"
            " ORDER BY created_at LIMIT %s",
            (limit,),
        ).fetchall()
    counts = {"clean": 0, "copied": 0, "unchecked": 0}
    for row in rows:
        with scratch_directory(services.settings.processing.scratch_dir) as scratch:
            try:
                outcome = _one(services, row, scratch)
            except (ProcessingError, StorageError, OSError) as error:
                logger.warning("media %s not checked for its place now: %s", row["id"], error)
                outcome = "unchecked"
        counts[outcome] += 1
    done = Backfill(**counts)
    logger.info(
        "share-originals: %d originals name no place, %d copies without it stored, "
        "%d left for a later run", done.clean, done.copied, done.unchecked,
    )  # fmt: skip
    return done


def _one(services: Services, row: dict[str, Any], scratch: Path) -> str:
    from processing.inputs import MediaInput
    from processing.job import upload_output
    from processing.limits import Limits
    from processing.location import Tools, shared_original
    from processing.probe import probe_file

    media_id, original = str(row["id"]), str(row["original_key"])
    limits = Limits.from_settings(services.settings.processing)
    source = scratch / "original"
    services.storage.download(original, source)
    media = MediaInput.open(source, max_pixels=limits.max_pixels)
    probe = None
    if media.ffmpeg_readable:
        probe = probe_file(media, timeout=limits.base_seconds, sandbox=limits.sandbox_for(None))
    tools = Tools(limits.timeout_for(probe) if probe else limits.base_seconds,
                  limits.sandbox_for(probe))  # fmt: skip
    found = shared_original(
        media, probe, scratch / "shared-original", served_type=row["content_type"], tools=tools,
        known_place=row["latitude"] is not None,
    )  # fmt: skip
    if not found.checked:
        return "unchecked"
    key = original
    if found.copy is not None:
        key = derived_key(media_id, f"original-shared{media.format.extension}")
        upload_output(services, key, found.copy, row["content_type"])
    with services.pool.connection() as conn:
        recorded = conn.execute(
            "UPDATE media SET shared_original_key = %s WHERE id = %s AND original_key = %s"
            " AND status = 'ready' AND shared_original_key IS NULL",
            (key, media_id, original),
        ).rowcount
    if not recorded:
        if found.copy is not None:
            services.storage.remove([key])  # deleted or changed meanwhile: nothing names it
        raise TransientProcessingError("the media changed while it was looked at")
    return "copied" if found.copy is not None else "clean"


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from mediavault.services import Services

    services = Services.from_settings(settings)
    try:
        backfill(services, limit=args.limit)
    finally:
        services.close()
    return 0


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--limit", type=int, default=1000, help="originals per run")


SHARE_ORIGINALS = Command(
    "share-originals",
    "make what share links hand out for media processed before places were removed",
    _run,
    _configure,
)
