"""Download URLs for a media's objects, each served with a safe type whatever storage holds."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

from mediavault.mediatypes import announced_format

if TYPE_CHECKING:
    from mediavault.storage import Storage

# Derived objects are written by the worker: their type follows from their name.
_DERIVED_TYPES = {
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".png": "image/png",
    ".mp4": "video/mp4",
}
OPAQUE = "application/octet-stream"


def derived_url(storage: Storage, key: str | None, expires_seconds: int) -> str | None:
    """A URL for a derived object (thumbnail, preview, playback file), or None without one."""
    if not key:
        return None
    content_type = _DERIVED_TYPES.get(posixpath.splitext(key)[1].lower(), OPAQUE)
    return storage.presign_get(key, content_type, expires_seconds)


def original_url(
    storage: Storage,
    row: dict[str, Any],
    expires_seconds: int,
    *,
    attachment: bool = True,
    key: str | None = None,
) -> str | None:
    """A URL for the checked original (or `key`, a copy of it); an attachment unless inline."""
    stored = key or row.get("original_key")
    if row["status"] != "ready" or not stored:
        return None
    content_type = row["content_type"] if announced_format(row["content_type"]) else OPAQUE
    return storage.presign_get(
        stored,
        content_type,
        expires_seconds,
        download_name=row["filename"] if attachment else None,
    )
