"""The user's media: listing with filters and keyset pages, one item, edits, tags, deletion."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from psycopg import sql

from mediavault.errors import BadRequest, NotFound
from mediavault.pagination import Cursor
from mediavault.storage import derived_key
from mediavault.text import clean_text

if TYPE_CHECKING:
    from mediavault.db import DictConnection
    from mediavault.schemas import Media, MediaUpdate, TagCount
    from mediavault.storage import Storage

STATUSES = ("pending", "processing", "ready", "failed")
# Orders of `GET /api/media`: the column each sorts on (taken_at: when taken, else uploaded).
SORTS = {"created_at": "created_at", "taken_at": "timeline_at"}
ORDERS = ("desc", "asc")
KINDS = ("video", "image", "audio", "other")
MAX_TAGS = 50
# The columns naming a media's stored objects besides its upload: what deleting it removes.
OBJECT_KEYS = ("original_key", "shared_original_key", "playback_key", "thumbnail_key",
               "preview_key", "thumbnail_jpeg_key", "preview_jpeg_key", "web_key")  # fmt: skip

# Columns of a media response; tags and processing state come along in one round trip.
MEDIA_SELECT = """
SELECT m.id, m.owner_id, m.title, m.filename, m.content_type, m.kind, m.status, m.error,
       m.size_bytes, m.width, m.height, m.duration_ms, m.video_codec, m.audio_codec, m.sha256,
       m.upload_key, m.original_key, m.upload_id, m.playback_key, m.thumbnail_key,
       m.preview_key, m.thumbnail_jpeg_key, m.preview_jpeg_key, m.web_key, m.shared_original_key,
       m.original_codecs, m.playback_codecs, m.web_codecs,
       m.taken_at, m.taken_at_offset, m.camera_make, m.camera_model, m.latitude, m.longitude,
       m.timeline_at, m.created_at, m.updated_at,
       coalesce((SELECT array_agg(t.name ORDER BY lower(t.name)) FROM media_tags mt
                 JOIN tags t ON t.id = mt.tag_id WHERE mt.media_id = m.id), '{}') AS tags,
       j.attempts, j.encoder, j.progress, j.started_at, j.finished_at
FROM media m LEFT JOIN processing_jobs j ON j.media_id = m.id
"""


@dataclass(frozen=True)
class MediaFilter:
    """What `GET /api/media` may narrow the list by."""

    status: str | None = None
    kind: str | None = None
    tags: tuple[str, ...] = ()
    query: str | None = None

    @classmethod
    def parse(
        cls, status: str | None, kind: str | None, tags: list[str], q: str | None
    ) -> MediaFilter:
        """Validate the query string's filters."""
        if status is not None and status not in STATUSES:
            raise BadRequest(f"status must be one of {', '.join(STATUSES)}")
        if kind is not None and kind not in KINDS:
            raise BadRequest(f"kind must be one of {', '.join(KINDS)}")
        if len(tags) > MAX_TAGS:
            raise BadRequest(f"at most {MAX_TAGS} tag filters")
        names = tuple(clean_text(t, "tag", 64, required=True) or "" for t in tags)
        return cls(status, kind, names, clean_text(q, "q", 200))


@dataclass(frozen=True)
class MediaOrder:
    """How `GET /api/media` sorts, and the time range it keeps (on the same timeline)."""

    sort: str = "created_at"
    order: str = "desc"
    taken_from: datetime | None = None  # inclusive, on taken_at (upload time for undated items)
    taken_to: datetime | None = None  # exclusive

    @classmethod
    def parse(
        cls, sort: str | None, order: str | None, taken_from: str | None, taken_to: str | None
    ) -> MediaOrder:
        """Validate the query string's ordering and date range."""
        sort = sort or "created_at"
        order = order or "desc"
        if sort not in SORTS:
            raise BadRequest(f"sort must be one of {', '.join(SORTS)}")
        if order not in ORDERS:
            raise BadRequest(f"order must be one of {', '.join(ORDERS)}")
        start = _moment(taken_from, "taken_from")
        end = _moment(taken_to, "taken_to")
        if start is not None and end is not None and start >= end:
            raise BadRequest("taken_from must be before taken_to")
        return cls(sort, order, start, end)


def _moment(raw: str | None, name: str) -> datetime | None:
    """A date (midnight UTC) or an RFC 3339 time (UTC when it names no offset)."""
    if raw is None or raw == "":
        return None
    try:
        if len(raw) > 40:
            raise ValueError
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadRequest(f"{name} must be a date (YYYY-MM-DD) or an RFC 3339 time") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def list_media(
    conn: DictConnection,
    owner_id: str,
    where: MediaFilter,
    limit: int,
    cursor: Cursor | None,
    *,
    order: MediaOrder | None = None,
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """One page of the owner's media in the asked order, and the cursor of the next page."""
    order = order or MediaOrder()
    column = sql.Identifier("m", SORTS[order.sort])
    conditions: list[sql.Composable] = [sql.SQL("m.owner_id = %(owner)s")]
    params: dict[str, Any] = {"owner": owner_id, "limit": limit + 1}
    if order.taken_from is not None:
        conditions.append(sql.SQL("m.timeline_at >= %(taken_from)s"))
        params["taken_from"] = order.taken_from
    if order.taken_to is not None:
        conditions.append(sql.SQL("m.timeline_at < %(taken_to)s"))
        params["taken_to"] = order.taken_to
    if where.status is not None:
        conditions.append(sql.SQL("m.status = %(status)s"))
        params["status"] = where.status
    if where.kind is not None:
        conditions.append(sql.SQL("m.kind = %(kind)s"))
        params["kind"] = where.kind
    tag_ids = _tag_ids(conn, owner_id, where.tags)
    if tag_ids is None:
        return [], None  # a tag the owner never used: nothing can match
    for index, tag_id in enumerate(tag_ids):
        # Probing the (media_id, tag_id) primary key per row keeps a walk down the owner's
        # newest-first index cheap; the tag ids are resolved once, up front.
        name = f"tag{index}"
        conditions.append(sql.SQL(
            "EXISTS (SELECT 1 FROM media_tags mt WHERE mt.media_id = m.id AND mt.tag_id = {})"
        ).format(sql.Placeholder(name)))  # fmt: skip
        params[name] = tag_id
    if where.query is not None:
        conditions.append(sql.SQL("(m.title ILIKE %(q)s OR m.filename ILIKE %(q)s)"))
        params["q"] = "%" + _escape_like(where.query) + "%"
    descending = order.order == "desc"
    if cursor is not None:
        if cursor.sort != f"{order.sort}:{order.order}".removesuffix(":desc"):
            raise BadRequest("the cursor belongs to another order", code="invalid_cursor")
        # Row comparison on (time, id): a page boundary inside equal times stays exact.
        comparison = "<" if descending else ">"
        conditions.append(sql.SQL("({}, m.id) {} (%(after_at)s, %(after_id)s)").format(
            column, sql.SQL(comparison)))  # fmt: skip
        params.update(after_at=cursor.at, after_id=cursor.id)
    direction = sql.SQL("DESC" if descending else "ASC")
    query = sql.SQL(
        "{select} WHERE {conditions} ORDER BY {column} {direction}, m.id {direction}"
        " LIMIT %(limit)s"
    ).format(select=sql.SQL(MEDIA_SELECT), conditions=sql.SQL(" AND ").join(conditions),
             column=column, direction=direction)  # fmt: skip
    rows = conn.execute(query, params).fetchall()
    page, more = rows[:limit], len(rows) > limit
    next_cursor = None
    if more:
        last = page[-1]
        sort = f"{order.sort}:{order.order}".removesuffix(":desc")
        next_cursor = Cursor(last[SORTS[order.sort]], str(last["id"]), sort)
    return page, next_cursor


def _tag_ids(conn: DictConnection, owner_id: str, names: tuple[str, ...]) -> list[str] | None:
    """The ids of the owner's tags with these names (any case); None if one does not exist."""
    wanted = list(dict.fromkeys(name.lower() for name in names))
    if not wanted:
        return []
    rows = conn.execute(
        "SELECT id FROM tags WHERE owner_id = %s AND lower(name) = ANY(%s::text[])",
        (owner_id, wanted),
    ).fetchall()
    return [str(row["id"]) for row in rows] if len(rows) == len(wanted) else None


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def get_media(
    conn: DictConnection, owner_id: str, media_id: str, *, lock: bool = False
) -> dict[str, Any]:
    """One of the owner's media; NotFound for anything else."""
    query = (
        MEDIA_SELECT + " WHERE m.id = %s AND m.owner_id = %s" + (" FOR UPDATE OF m" if lock else "")
    )
    row = conn.execute(query, (media_id, owner_id)).fetchone()
    if row is None:
        raise NotFound("no such media")
    return row


def update_media(conn: DictConnection, owner_id: str, media_id: str, body: MediaUpdate) -> None:
    """Apply a PATCH: title and/or the full list of tags."""
    from msgspec import UNSET

    get_media(conn, owner_id, media_id, lock=True)
    if body.title is not UNSET:
        title = clean_text(body.title, "title", 200)
        conn.execute(
            "UPDATE media SET title = %s, updated_at = now() WHERE id = %s", (title, media_id)
        )
    if body.tags is not UNSET:
        set_tags(conn, owner_id, media_id, parse_tags(body.tags))


def parse_tags(raw: list[str]) -> list[str]:
    """Tag names: trimmed, 1..64 printable characters, deduplicated case-insensitively."""
    names: dict[str, str] = {}
    for item in raw:
        name = clean_text(item, "tag", 64, required=True)
        assert name is not None
        names.setdefault(name.lower(), " ".join(name.split()))
    return list(names.values())


def set_tags(conn: DictConnection, owner_id: str, media_id: str, names: list[str]) -> None:
    """Replace the media's tags; tags are made on first use and forgotten when unused."""
    if names:
        conn.execute(
            "INSERT INTO tags (owner_id, name) SELECT %s, unnest(%s::text[])"
            " ON CONFLICT (owner_id, lower(name)) DO NOTHING",
            (owner_id, names),
        )
    conn.execute("DELETE FROM media_tags WHERE media_id = %s", (media_id,))
    conn.execute(
        "INSERT INTO media_tags (media_id, tag_id) SELECT %s, id FROM tags"
        " WHERE owner_id = %s AND lower(name) = ANY(%s::text[])",
        (media_id, owner_id, [n.lower() for n in names]),
    )
    conn.execute("UPDATE media SET updated_at = now() WHERE id = %s", (media_id,))
    forget_unused_tags(conn, owner_id)


def forget_unused_tags(conn: DictConnection, owner_id: str) -> None:
    """Delete the owner's tags no media carries any more."""
    conn.execute(
        "DELETE FROM tags t WHERE t.owner_id = %s"
        " AND NOT EXISTS (SELECT 1 FROM media_tags mt WHERE mt.tag_id = t.id)",
        (owner_id,),
    )


def list_tags(conn: DictConnection, owner_id: str) -> list[TagCount]:
    """The owner's tags with how many media carry each, by name."""
    rows = conn.execute(
        "SELECT t.name, count(mt.media_id) AS count FROM tags t"
        " LEFT JOIN media_tags mt ON mt.tag_id = t.id WHERE t.owner_id = %s"
        " GROUP BY t.id, t.name ORDER BY lower(t.name)",
        (owner_id,),
    ).fetchall()
    return [{"name": row["name"], "count": row["count"]} for row in rows]


def delete_media(conn: DictConnection, storage: Storage, owner_id: str, media_id: str) -> None:
    """Delete every object of the media, then its row (and with it its tags and memberships)."""
    row = get_media(conn, owner_id, media_id, lock=True)
    if row["upload_id"] and row["upload_key"]:
        storage.abort_multipart(row["upload_key"], row["upload_id"])
    # Objects first: if storage fails the row stays, and the request can simply be repeated.
    # The row names every object (in either key layout); the prefix also catches what a job
    # wrote but never recorded.
    derived = derived_key(media_id, "")
    named = (row[column] for column in ("upload_key", *OBJECT_KEYS))
    keys = {key for key in named if key and not key.startswith(derived)}
    storage.remove(sorted(keys), prefixes=(derived,))
    conn.execute("DELETE FROM media WHERE id = %s", (media_id,))
    forget_unused_tags(conn, owner_id)


def to_json(row: dict[str, Any], storage: Storage, *, listed: bool = False) -> Media:
    """The media shape of DESIGN.md, with short-lived presigned URLs for what exists.

    In a list page (`listed`) only what a grid shows is signed, the thumbnails; the other URLs
    are null and `sources` empty until the item itself is asked for.
    """
    from mediavault.downloads import listed_urls, media_urls
    from mediavault.renditions import local_time

    urls, sources = listed_urls(row, storage) if listed else media_urls(row, storage)
    located = row["latitude"] is not None and row["longitude"] is not None
    return {
        "id": str(row["id"]),
        "title": row["title"],
        "filename": row["filename"],
        "content_type": row["content_type"],
        "kind": row["kind"],
        "status": row["status"],
        "error": row["error"],
        "size_bytes": row["size_bytes"],
        "width": row["width"],
        "height": row["height"],
        "duration_ms": row["duration_ms"],
        "video_codec": row["video_codec"],
        "audio_codec": row["audio_codec"],
        "sha256": row["sha256"],  # of the checked original; null until the worker read it
        "tags": list(row["tags"]),
        # Capture facts (issue 14): the owner's view only, never a share view's.
        "taken_at": local_time(row["taken_at"], row["taken_at_offset"]),
        "taken_at_offset": row["taken_at_offset"],
        "camera_make": row["camera_make"],
        "camera_model": row["camera_model"],
        "location": {"latitude": row["latitude"], "longitude": row["longitude"]}
        if located
        else None,
        "created_at": row["created_at"].isoformat(),
        "updated_at": row["updated_at"].isoformat(),
        "urls": urls,
        "sources": sources,
        "processing": {
            "attempts": row["attempts"] or 0,
            "encoder": row["encoder"],
            "progress": row["progress"] if row["progress"] is not None else 0.0,
            "started_at": row["started_at"].isoformat() if row["started_at"] else None,
            "finished_at": row["finished_at"].isoformat() if row["finished_at"] else None,
        },
    }
