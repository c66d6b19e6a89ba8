"""`mediavault migrate-keys`: move objects stored under their owner's id to keys naming no owner.

Keys were `originals/<owner>/<media><ext>` and `derived/<owner>/<media>/<name>`; a share link's
redirect named the owner. Each media is moved in three steps that are each safe to repeat: copy
every object to its new key (skipped when already there), point the row at the new keys (only if
it still names the old ones), delete the old objects. A final sweep deletes old-layout objects no
row names, which also finishes a run killed between the update and the deletion.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mediavault.errors import StorageError
from mediavault.media import OBJECT_KEYS
from mediavault.storage import DERIVED_PREFIX, ORIGINALS_PREFIX, ObjectMissing

if TYPE_CHECKING:
    from mediavault.db import Pool
    from mediavault.storage import Storage

logger = logging.getLogger(__name__)

KEY_COLUMNS = OBJECT_KEYS
# Uploads presigned before staging keys existed went straight to an original's key.
_NAMING = ("upload_key", *KEY_COLUMNS)
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
# The old layout: the owner's id, then the media's.
_OLD = (
    (re.compile(rf"{ORIGINALS_PREFIX}{_UUID}/(?P<rest>(?P<media>{_UUID})[^/]*)"), ORIGINALS_PREFIX),
    (re.compile(rf"{DERIVED_PREFIX}{_UUID}/(?P<rest>(?P<media>{_UUID})/.+)"), DERIVED_PREFIX),
)
# Jobs in other states may record keys again: their media wait for a later run.
_SETTLED = ("ready", "failed")
_SWEEP_BATCH = 500


@dataclass(frozen=True)
class KeyMoves:
    """What one run did."""

    moved: int  # media whose row now names the new keys
    waiting: int  # media being processed: run again once their jobs are done
    removed: int  # old-layout objects deleted by the sweep


def _parse(key: str) -> tuple[str, str] | None:
    """(media id, new key) for an old-layout key; None for a key that names no owner."""
    for pattern, prefix in _OLD:
        found = pattern.fullmatch(key)
        if found:
            return found["media"].lower(), prefix + found["rest"]
    return None


def legacy_keys(media_id: str, row: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(old, new) for each key of the media in the old layout, in KEY_COLUMNS order, once each."""
    seen: set[str] = set()
    for column in KEY_COLUMNS:
        key = row.get(column)
        if not isinstance(key, str) or key in seen:
            continue
        parsed = _parse(key)
        if parsed is not None and parsed[0] == media_id.lower():
            seen.add(key)
            yield key, parsed[1]


def migrate_keys(pool: Pool, storage: Storage) -> KeyMoves:
    """Move every settled media's objects to owner-free keys, then sweep old-layout leftovers."""
    # An old key has one more slash than a new one: the owner's id is a folder of its own.
    old = " OR ".join(f"{c} ~ '^(originals/[^/]+/|derived/[^/]+/[^/]+/)'" for c in KEY_COLUMNS)
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT id, status, {', '.join(_NAMING)} FROM media WHERE {old} ORDER BY id"  # noqa: S608  (our own column names)
        ).fetchall()
    moved = waiting = 0
    for row in rows:
        if row["status"] not in _SETTLED:
            waiting += 1
        elif _move(pool, storage, str(row["id"]), row):
            moved += 1
    removed = _sweep(pool, storage)
    logger.info(
        "migrate-keys: moved %d media, %d waiting for their job (run again later), "
        "removed %d old objects", moved, waiting, removed,
    )  # fmt: skip
    return KeyMoves(moved=moved, waiting=waiting, removed=removed)


def _move(pool: Pool, storage: Storage, media_id: str, row: dict[str, Any]) -> bool:
    """Copy, repoint, delete for one media; False when its row changed meanwhile."""
    moves = dict(legacy_keys(media_id, row))
    for old, new in moves.items():
        if storage.exists(new):
            continue  # copied by a run that was stopped before it updated the row
        try:
            _copy(storage, old, new)
        except ObjectMissing:
            logger.warning("an object of media %s is missing; its key is renamed anyway", media_id)
    renamed = [c for c in _NAMING if row[c] in moves]
    params = {c: moves[row[c]] for c in renamed} | {f"was_{c}": row[c] for c in _NAMING}
    assignments = "".join(f", {c} = %({c})s" for c in renamed)
    unchanged = " AND ".join(f"{c} IS NOT DISTINCT FROM %(was_{c})s" for c in _NAMING)
    with pool.connection() as conn:
        updated = conn.execute(
            f"UPDATE media SET updated_at = now(){assignments} WHERE id = %(id)s"  # noqa: S608  (our own column names)
            f" AND status IN ('ready', 'failed') AND {unchanged}",
            {**params, "id": media_id},
        ).rowcount
        gone = conn.execute("SELECT 1 FROM media WHERE id = %s", (media_id,)).fetchone() is None
    if updated:
        storage.remove(list(moves))
        logger.info("moved the objects of media %s to keys without its owner", media_id)
    elif gone:
        storage.remove(list(moves.values()))  # deleted meanwhile: the copies go too
    return bool(updated)


def _copy(storage: Storage, source: str, target: str) -> None:
    from minio.commonconfig import CopySource
    from minio.error import S3Error

    try:
        storage.client.copy_object(storage.bucket, target, CopySource(storage.bucket, source))
    except S3Error as error:
        if error.code in ("NoSuchKey", "NoSuchObject"):
            raise ObjectMissing(source) from error
        raise StorageError(f"cannot copy an object to its new key: {error.code}") from error


def _sweep(pool: Pool, storage: Storage) -> int:
    """Delete old-layout objects that no row names (their media moved, or is gone)."""
    removed = 0
    batch: list[tuple[str, str]] = []
    for prefix in (ORIGINALS_PREFIX, DERIVED_PREFIX):
        for found in storage.client.list_objects(storage.bucket, prefix=prefix, recursive=True):
            parsed = _parse(found.object_name) if found.object_name else None
            if parsed is not None and found.object_name is not None:
                batch.append((found.object_name, parsed[0]))
            if len(batch) >= _SWEEP_BATCH:
                removed += _remove_unnamed(pool, storage, batch)
                batch = []
    return removed + _remove_unnamed(pool, storage, batch)


def _remove_unnamed(pool: Pool, storage: Storage, found: list[tuple[str, str]]) -> int:
    """Delete the (key, media id) objects whose media's row does not name them."""
    if not found:
        return 0
    with pool.connection() as conn:
        rows = conn.execute(
            f"SELECT {', '.join(_NAMING)} FROM media WHERE id = ANY(%s::uuid[])",  # noqa: S608  (our own column names)
            (sorted({media_id for _, media_id in found}),),
        ).fetchall()
    named = {row[c] for row in rows for c in _NAMING}
    unnamed = [key for key, _ in found if key not in named]
    if unnamed:
        storage.remove(unnamed)
    return len(unnamed)
