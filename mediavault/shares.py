"""Share links: random tokens kept as hashes, optional expiry and password, revocation."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from typing import TYPE_CHECKING, Any

from mediavault.errors import Conflict, NotFound
from mediavault.tokens import hash_token, new_token

if TYPE_CHECKING:
    from mediavault.db import DictConnection
    from mediavault.schemas import ShareRequest

SHARE_PREFIX = "mvsh_"
# scrypt with one of OWASP's recommended settings (N=2^15, r=8, p=3: 32 MiB per hash, the same
# work as N=2^17, p=1 for a quarter of the memory per concurrent unlock).
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**15, 8, 3
_SCRYPT_MAXMEM = 64 * 1024 * 1024

_SHARE = """
SELECT s.id, s.collection_id, s.password_hash IS NOT NULL AS has_password, s.allow_download,
       s.include_location, s.expires_at, s.revoked_at, s.view_count, s.created_at, s.password_hash,
       c.title, c.description
FROM share_links s JOIN collections c ON c.id = s.collection_id
"""


def hash_password(password: str) -> str:
    """A salted scrypt hash, self-describing."""
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, maxmem=_SCRYPT_MAXMEM
    )
    encode = base64.b64encode
    return (
        f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${encode(salt).decode()}${encode(digest).decode()}"
    )


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of a password against hash_password's output."""
    try:
        _, n, r, p, salt, digest = stored.split("$")
        expected = base64.b64decode(digest)
        actual = hashlib.scrypt(password.encode(), salt=base64.b64decode(salt), n=int(n),
                                r=int(r), p=int(p), dklen=len(expected),
                                maxmem=_SCRYPT_MAXMEM)  # fmt: skip
    except ValueError:
        return False
    return hmac.compare_digest(actual, expected)


def needs_rehash(stored: str) -> bool:
    """True when a hash was made with weaker parameters than today's."""
    parts = stored.split("$")
    return parts[1:4] != [str(SCRYPT_N), str(SCRYPT_R), str(SCRYPT_P)]


def rehash(conn: DictConnection, share_id: str, password: str) -> None:
    """Store the password again with today's parameters (it was just verified)."""
    conn.execute(
        "UPDATE share_links SET password_hash = %s WHERE id = %s",
        (hash_password(password), share_id),
    )


def create(
    conn: DictConnection, collection_id: str, options: ShareRequest
) -> tuple[str, dict[str, Any]]:
    """A new link for a collection the caller owns; the token (shown once) and the row."""
    token = new_token(SHARE_PREFIX)
    password_hash = hash_password(options.password) if options.password else None
    row = conn.execute(
        "INSERT INTO share_links (collection_id, token_hash, password_hash, allow_download,"
        " include_location, expires_at) VALUES (%s, %s, %s, %s, %s,"
        " CASE WHEN %s::int IS NULL THEN NULL ELSE now() + make_interval(secs => %s::int) END)"
        " RETURNING id",
        (collection_id, hash_token(token), password_hash, options.allow_download,
         options.include_location, options.expires_in_seconds, options.expires_in_seconds),
    ).fetchone()  # fmt: skip
    assert row is not None
    return token, _by_id(conn, str(row["id"]))


def _by_id(conn: DictConnection, share_id: str) -> dict[str, Any]:
    row = conn.execute(_SHARE + " WHERE s.id = %s", (share_id,)).fetchone()
    assert row is not None
    return row


def list_for(conn: DictConnection, collection_id: str) -> list[dict[str, Any]]:
    """Every link of a collection, newest first."""
    return conn.execute(
        _SHARE + " WHERE s.collection_id = %s ORDER BY s.created_at DESC", (collection_id,)
    ).fetchall()


def revoke(conn: DictConnection, collection_id: str, share_id: str) -> None:
    """Stop a link at once."""
    updated = conn.execute(
        "UPDATE share_links SET revoked_at = coalesce(revoked_at, now())"
        " WHERE id = %s AND collection_id = %s",
        (share_id, collection_id),
    ).rowcount
    if updated == 0:
        raise NotFound("no such share link")


def resolve(conn: DictConnection, token: str) -> dict[str, Any]:
    """The live link behind a token; unknown, expired and revoked are the same NotFound."""
    row = conn.execute(
        _SHARE + " WHERE s.token_hash = %s AND s.revoked_at IS NULL"
        " AND (s.expires_at IS NULL OR s.expires_at > now())",
        (hash_token(token),),
    ).fetchone()
    if row is None:
        raise NotFound("this link does not exist or has expired")
    return row


def count_view(conn: DictConnection, share_id: str) -> None:
    """One more view of the link."""
    conn.execute(
        "UPDATE share_links SET view_count = view_count + 1, last_viewed_at = now() WHERE id = %s",
        (share_id,),
    )


_ITEM = (
    "SELECT m.id, m.status, m.title, m.kind, m.width, m.height, m.duration_ms, m.original_key,"
    " m.playback_key, m.thumbnail_key, m.preview_key, m.filename, m.content_type,"
    # Never the capture facts (place, camera, date): a share view shows none of them.
    " m.web_key, m.thumbnail_jpeg_key, m.preview_jpeg_key, m.original_codecs,"
    " m.playback_codecs, m.web_codecs, m.shared_original_key"
    " FROM collection_items i JOIN media m ON m.id = i.media_id"
    " WHERE i.collection_id = %s AND m.status = 'ready'"
)


def ready_items(conn: DictConnection, collection_id: str) -> list[dict[str, Any]]:
    """The collection's ready media in order, with the keys a share view signs on demand."""
    return conn.execute(_ITEM + " ORDER BY i.position, i.added_at", (collection_id,)).fetchall()


def shared_item(conn: DictConnection, collection_id: str, media_id: str) -> dict[str, Any]:
    """One ready media of the shared collection; NotFound for anything else."""
    row = conn.execute(_ITEM + " AND m.id = %s", (collection_id, media_id)).fetchone()
    if row is None:
        raise NotFound("not in this shared collection")
    return row


def original_key(share: dict[str, Any], item: dict[str, Any]) -> str | None:
    """The object a link hands out as an item's original; None when it hands out none."""
    # The original as uploaded only if its owner chose to include places; otherwise the copy the
    # worker made without its place (the original itself when it names none; NULL: unchecked).
    if not share["allow_download"]:
        return None
    return str(item["original_key"]) if share["include_location"] else item["shared_original_key"]


def require_original_key(share: dict[str, Any], item: dict[str, Any]) -> str:
    """The original a link hands out for the item, or why it hands out none."""
    if not share["allow_download"]:
        raise NotFound("this link does not allow downloads")
    key = original_key(share, item)
    if key is None:
        raise Conflict(
            "this file has not been checked for a location it may name, or its location could "
            "not be removed: this link cannot hand it out",
            code="not_checked_for_location",
        )
    return key
