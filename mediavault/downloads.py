"""Download URLs for a media's objects, each served with a safe type whatever storage holds."""

from __future__ import annotations

import posixpath
from typing import TYPE_CHECKING, Any

from mediavault.mediatypes import announced_format

if TYPE_CHECKING:
    from mediavault.schemas import MediaSource, MediaUrls
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


def media_urls(row: dict[str, Any], storage: Storage) -> tuple[MediaUrls, list[MediaSource]]:
    """Every URL of an owner's item, and what plays in a page."""
    from mediavault.renditions import source_key, video_sources

    expiry = storage.settings.download_expiry_seconds
    signed: dict[str, str | None] = {}

    def url(key: str | None) -> str | None:
        # Fields often name the same file (a photo's preview is its playback, a video's sources
        # its playback and web files): each is signed once.
        if not key:
            return None
        if key not in signed:
            signed[key] = derived_url(storage, key, expiry)
        return signed[key]

    # Nothing is handed out before the worker has checked it, nor after it refused it.
    original = original_url(storage, row, expiry)
    ready = row["status"] == "ready"
    playback = original
    if ready and row["playback_key"]:
        playback = url(row["playback_key"])
    elif ready and row["kind"] == "image" and row["preview_key"]:
        playback = url(row["preview_key"])  # upright, sRGB, any browser

    def derived(column: str) -> str | None:
        return url(row[column]) if ready else None

    sources: list[MediaSource] = []
    for kind, mime in video_sources(row, allow_original=True):
        source = original if kind == "original" else url(source_key(row, kind))
        if source is not None:
            sources.append({"url": source, "type": mime})
    urls: MediaUrls = {
        "original": original,
        "playback": playback,
        "thumbnail": url(row["thumbnail_key"]),
        "preview": derived("preview_key"),
        "web": derived("web_key"),
        "thumbnail_jpeg": derived("thumbnail_jpeg_key"),
        "preview_jpeg": derived("preview_jpeg_key"),
    }
    return urls, sources


def listed_urls(row: dict[str, Any], storage: Storage) -> tuple[MediaUrls, list[MediaSource]]:
    """The thumbnails' URLs only (as `media_urls` has them): a page signs what a grid shows."""
    expiry = storage.settings.download_expiry_seconds
    jpeg = row["thumbnail_jpeg_key"] if row["status"] == "ready" else None
    urls: MediaUrls = {
        "original": None,
        "playback": None,
        "thumbnail": derived_url(storage, row["thumbnail_key"], expiry),
        "preview": None,
        "web": None,
        "thumbnail_jpeg": derived_url(storage, jpeg, expiry),
        "preview_jpeg": None,
    }
    return urls, []
