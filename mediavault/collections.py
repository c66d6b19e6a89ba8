"""Collections: a user's ordered groups of their own media."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mediavault.errors import BadRequest, NotFound
from mediavault.media import MEDIA_SELECT
from mediavault.pagination import Cursor
from mediavault.text import clean_text

if TYPE_CHECKING:
    from mediavault.db import DictConnection
    from mediavault.schemas import CollectionFields, CollectionUpdate

_COLLECTION = """
SELECT c.id, c.title, c.description, c.created_at, c.updated_at,
       (SELECT count(*) FROM collection_items i WHERE i.collection_id = c.id) AS item_count,
       (SELECT m.thumbnail_key FROM collection_items i JOIN media m ON m.id = i.media_id
        WHERE i.collection_id = c.id AND m.status = 'ready' AND m.thumbnail_key IS NOT NULL
        ORDER BY i.position LIMIT 1) AS cover_key
FROM collections c
"""


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
    """Take a media out of the collection (no-op if it is not in it)."""
    get(conn, owner_id, collection_id, lock=True)
    conn.execute(
        "DELETE FROM collection_items WHERE collection_id = %s AND media_id = %s",
        (collection_id, media_id),
    )
    conn.execute("UPDATE collections SET updated_at = now() WHERE id = %s", (collection_id,))
