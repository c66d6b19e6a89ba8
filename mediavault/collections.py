"""Collections: a user's ordered groups of their own media."""

from __future__ import annotations

from collections import Counter
from typing import TYPE_CHECKING, Any

from mediavault.errors import BadRequest, Conflict, NotFound
from mediavault.media import MEDIA_SELECT
from mediavault.pagination import Cursor
from mediavault.text import clean_text

if TYPE_CHECKING:
    from mediavault.db import DictConnection
    from mediavault.schemas import CollectionFields, CollectionUpdate

# The shown cover of collection `c`: the chosen one while it is ready with a thumbnail, else the
# first such item. Two single-row lookups (primary key, then the order index) rather than one
# sort, which would read every item of a big collection for each row of a list.
COVER_JOIN = """
LEFT JOIN LATERAL (
    (SELECT m.id, m.thumbnail_key, 0 AS rank FROM collection_items i
     JOIN media m ON m.id = i.media_id
     WHERE i.collection_id = c.id AND i.media_id = c.cover_media_id
       AND m.status = 'ready' AND m.thumbnail_key IS NOT NULL)
    UNION ALL
    (SELECT m.id, m.thumbnail_key, 1 AS rank FROM collection_items i
     JOIN media m ON m.id = i.media_id
     WHERE i.collection_id = c.id AND m.status = 'ready' AND m.thumbnail_key IS NOT NULL
     ORDER BY i.position LIMIT 1)
    ORDER BY rank LIMIT 1
) cover ON true
"""

_COLUMNS = """
SELECT c.id, c.title, c.description, c.created_at, c.updated_at, c.cover_media_id,
       (SELECT count(*) FROM collection_items i WHERE i.collection_id = c.id) AS item_count,
       cover.thumbnail_key AS cover_key
FROM collections c
"""
_COLLECTION = _COLUMNS + COVER_JOIN
_COVER_ID = "SELECT cover.id FROM collections c"
_SHOWN_COVER = _COVER_ID + COVER_JOIN
_SHOWN_IDS = 3  # ids named per kind of difference in an order_mismatch message


def parse_fields(body: CollectionFields | CollectionUpdate) -> dict[str, str]:
    """The title and description a body sets, checked as text (absent ones are left out)."""
    from msgspec import UNSET

    fields: dict[str, str] = {}
    if body.title is not UNSET:
        title = clean_text(body.title, "title", 200, required=True)
        assert title is not None
        fields["title"] = title
    if body.description is not UNSET:
        fields["description"] = clean_text(body.description, "description", 2000) or ""
    return fields


def create(conn: DictConnection, owner_id: str, fields: dict[str, str]) -> dict[str, Any]:
    """A new, empty collection."""
    row = conn.execute(
        "INSERT INTO collections (owner_id, title, description) VALUES (%s, %s, %s) RETURNING id",
        (owner_id, fields["title"], fields.get("description", "")),
    ).fetchone()
    assert row is not None
    return get(conn, owner_id, str(row["id"]))


def get(
    conn: DictConnection, owner_id: str, collection_id: str, *, lock: bool = False
) -> dict[str, Any]:
    """One of the owner's collections; NotFound for anything else."""
    suffix = " FOR UPDATE OF c" if lock else ""
    row = conn.execute(
        _COLLECTION + " WHERE c.id = %s AND c.owner_id = %s" + suffix, (collection_id, owner_id)
    ).fetchone()
    if row is None:
        raise NotFound("no such collection")
    return row


def shown_cover(conn: DictConnection, collection_id: str) -> str | None:
    """The media shown as the collection's cover, whoever asks (a share view); None if none."""
    row = conn.execute(_SHOWN_COVER + " WHERE c.id = %s", (collection_id,)).fetchone()
    return str(row["id"]) if row and row["id"] else None


def items(conn: DictConnection, collection_id: str) -> list[dict[str, Any]]:
    """The collection's media in order."""
    return conn.execute(
        MEDIA_SELECT + " JOIN collection_items i ON i.media_id = m.id"
        " WHERE i.collection_id = %s ORDER BY i.position, i.added_at",
        (collection_id,),
    ).fetchall()


def list_page(
    conn: DictConnection, owner_id: str, limit: int, cursor: Cursor | None
) -> tuple[list[dict[str, Any]], Cursor | None]:
    """A page of the owner's collections, newest first."""
    params: list[Any] = [owner_id]
    after = ""
    if cursor is not None:
        if cursor.sort != "created_at":
            raise BadRequest("cursor is not valid", code="invalid_cursor")
        after = " AND (c.created_at, c.id) < (%s, %s)"
        params += [cursor.at, cursor.id]
    rows = conn.execute(
        _COLLECTION
        + " WHERE c.owner_id = %s"
        + after
        + " ORDER BY c.created_at DESC, c.id DESC LIMIT %s",
        [*params, limit + 1],
    ).fetchall()
    page = rows[:limit]
    more = len(rows) > limit
    return page, Cursor(page[-1]["created_at"], str(page[-1]["id"])) if more else None


def update(conn: DictConnection, owner_id: str, collection_id: str, fields: dict[str, str]) -> None:
    """Change title and/or description."""
    get(conn, owner_id, collection_id, lock=True)
    for column in ("title", "description"):
        if column in fields:
            conn.execute(
                f"UPDATE collections SET {column} = %s, updated_at = now() WHERE id = %s",  # noqa: S608  (fixed names)
                (fields[column], collection_id),
            )


def set_cover(
    conn: DictConnection, owner_id: str, collection_id: str, media_id: str | None
) -> None:
    """Choose the cover among the collection's items, or None to go back to the automatic one."""
    get(conn, owner_id, collection_id, lock=True)
    if media_id is not None and not _contains(conn, collection_id, media_id):
        raise Conflict("the cover must be an item of the collection", code="not_in_collection")
    conn.execute(
        "UPDATE collections SET cover_media_id = %s, updated_at = now() WHERE id = %s",
        (media_id, collection_id),
    )


def _contains(conn: DictConnection, collection_id: str, media_id: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM collection_items WHERE collection_id = %s AND media_id = %s",
        (collection_id, media_id),
    ).fetchone()
    return row is not None


def set_order(
    conn: DictConnection, owner_id: str, collection_id: str, media_ids: list[str]
) -> None:
    """Put the collection's items in this order, which must list each of them exactly once.

    Anything else is a Conflict naming the difference: a client that missed an added or removed
    item must reload rather than silently drop or add it.
    """
    get(conn, owner_id, collection_id, lock=True)  # no item comes or goes until commit
    current = {
        str(row["media_id"])
        for row in conn.execute(
            "SELECT media_id FROM collection_items WHERE collection_id = %s", (collection_id,)
        ).fetchall()
    }
    counts = Counter(media_ids)
    missing = [m for m in current if m not in counts]
    extra = [m for m in counts if m not in current]
    twice = [m for m, n in counts.items() if n > 1]
    problems = [
        f"{label}: {', '.join(sorted(ids)[:_SHOWN_IDS])}{', …' if len(ids) > _SHOWN_IDS else ''}"
        for label, ids in (
            (f"{len(missing)} item(s) missing", missing),
            (f"{len(extra)} not in the collection", extra),
            (f"{len(twice)} listed more than once", twice),
        )
        if ids
    ]
    if problems:
        raise Conflict(
            "the order must list every item of the collection exactly once; " + "; ".join(problems),
            code="order_mismatch",
        )
    conn.execute(
        "UPDATE collection_items i SET position = o.position"
        " FROM unnest(%s::uuid[]) WITH ORDINALITY AS o(media_id, position)"
        " WHERE i.collection_id = %s AND i.media_id = o.media_id",
        (media_ids, collection_id),
    )
    conn.execute("UPDATE collections SET updated_at = now() WHERE id = %s", (collection_id,))


def delete(conn: DictConnection, owner_id: str, collection_id: str) -> None:
    """Delete the collection and its share links; its media stay."""
    if (
        conn.execute(
            "DELETE FROM collections WHERE id = %s AND owner_id = %s", (collection_id, owner_id)
        ).rowcount
        == 0
    ):
        raise NotFound("no such collection")


def add_item(conn: DictConnection, owner_id: str, collection_id: str, media_id: str) -> None:
    """Put one of the owner's media at the end of the collection (no-op if already in it)."""
    get(conn, owner_id, collection_id, lock=True)
    if (
        conn.execute(
            "SELECT 1 FROM media WHERE id = %s AND owner_id = %s", (media_id, owner_id)
        ).fetchone()
        is None
    ):
        raise NotFound("no such media")
    conn.execute(
        "INSERT INTO collection_items (collection_id, media_id, position)"
        " SELECT %s, %s, coalesce(max(position), 0) + 1 FROM collection_items"
        " WHERE collection_id = %s"
        " ON CONFLICT (collection_id, media_id) DO NOTHING",
        (collection_id, media_id, collection_id),
    )
    conn.execute("UPDATE collections SET updated_at = now() WHERE id = %s", (collection_id,))


def remove_item(conn: DictConnection, owner_id: str, collection_id: str, media_id: str) -> None:
    """Take a media out of the collection (no-op if it is not in it); it stops being the cover."""
    get(conn, owner_id, collection_id, lock=True)
    conn.execute(
        "DELETE FROM collection_items WHERE collection_id = %s AND media_id = %s",
        (collection_id, media_id),
    )
    conn.execute(
        "UPDATE collections SET updated_at = now(),"
        " cover_media_id = CASE WHEN cover_media_id = %s THEN NULL ELSE cover_media_id END"
        " WHERE id = %s",
        (media_id, collection_id),
    )
