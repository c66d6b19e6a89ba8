"""Which files a media offers for viewing, in which order, with which types and codecs.

One decision for every client (the owner's API, the web app through it, the share view): a
browser takes the first `<source>` whose type (with codecs) it can decode, so the list is the
best file first and the H.264 web rendition last, and no file is listed without codecs when
another one would do (a bare `video/mp4` holding HEVC plays as sound over a black frame in a
browser without HEVC, and it never falls back).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Literal

SourceKind = Literal["playback", "original", "web"]
_MP4 = "video/mp4"
# Rows processed before codecs were recorded: what their HEVC file is known to be.
_HEVC_UNKNOWN = "hvc1"
_BROWSER_CONTAINERS = frozenset({"video/mp4", "video/webm", "video/quicktime", "video/x-m4v"})


def mime_type(container_type: str, codecs: str | None) -> str:
    """`video/mp4; codecs="…"`, or the bare container type when the codecs are unknown."""
    return f'{container_type}; codecs="{codecs}"' if codecs else container_type


def video_sources(
    row: dict[str, Any], *, allow_original: bool = True
) -> list[tuple[SourceKind, str]]:
    """The `<source>` list of a ready video, best first: (which file, its MIME type).

    The HEVC file first (smallest; Safari and browsers with hardware HEVC take it), then the
    original where it is a browser format with known codecs and nothing derived plays in every
    browser already, the H.264 web rendition last (every browser). Without a web rendition the
    original stays listed even with unknown codecs: it is the only other chance to play.
    The worker makes a web rendition for every video (auto; the original's streams copied when
    it plays everywhere), so an original is listed only for media processed before that.
    """
    if row.get("kind") != "video" or row.get("status") != "ready":
        return []
    listed: list[tuple[SourceKind, str]] = []
    web = row.get("web_key")
    if row.get("playback_key"):
        listed.append(("playback", mime_type(_MP4, row.get("playback_codecs") or _HEVC_UNKNOWN)))
    content_type = str(row.get("content_type") or "")
    if allow_original and row.get("original_key") and content_type in _BROWSER_CONTAINERS:
        codecs = row.get("original_codecs")
        if codecs and not (web and row.get("playback_key")):
            listed.append(("original", mime_type(content_type, codecs)))
        elif not codecs and not web:
            listed.append(("original", content_type))
    if web:
        listed.append(("web", mime_type(_MP4, row.get("web_codecs"))))
    return listed


def source_key(row: dict[str, Any], kind: SourceKind) -> str | None:
    """The storage key behind a source kind."""
    return {"playback": row.get("playback_key"), "original": row.get("original_key"),
            "web": row.get("web_key")}[kind]  # fmt: skip


def local_time(taken_at: datetime | None, offset_minutes: int | None) -> str | None:
    """RFC 3339 in the local offset of capture; without an offset when the file named none.

    A camera that writes no offset records the wall-clock time where it was: that time is kept
    as it is (stored as if it were UTC) and shown without an offset, as a floating local time.
    """
    if taken_at is None:
        return None
    if offset_minutes is None:
        return taken_at.astimezone(UTC).replace(tzinfo=None).isoformat()
    return taken_at.astimezone(timezone(timedelta(minutes=offset_minutes))).isoformat()
