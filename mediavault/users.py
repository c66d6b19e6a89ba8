"""Users and personal API tokens in PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mediavault.errors import Conflict, TooManyRequests
from mediavault.tokens import hash_token, new_token

if TYPE_CHECKING:
    from mediavault import schemas
    from mediavault.config import AuthSettings
    from mediavault.db import DictConnection
    from mediavault.pagination import Cursor


@dataclass(frozen=True)
class User:
    """A signed-in person (from Discord) or a local account made by an admin."""

    id: str
    username: str
    discord_id: str | None
    avatar_url: str | None

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> User:
        """From a row with id, username, discord_id, avatar_url."""
        return cls(
            id=str(row["id"]),
            username=row["username"],
            discord_id=row["discord_id"],
            avatar_url=row["avatar_url"],
        )

    def to_dict(self) -> schemas.User:
        """The public JSON shape of a user."""
        return {
            "id": self.id,
            "username": self.username,
            "discord_id": self.discord_id,
            "avatar_url": self.avatar_url,
        }


@dataclass(frozen=True)
class CreatedToken:
    """A token right after creation: the only moment its secret is known."""

    id: str
    name: str
    token: str
    created_at: datetime


def get_or_create_local_user(conn: DictConnection, username: str) -> User:
    """The user with this name, made as a local account if nobody has it."""
    rows = conn.execute(
        "SELECT id, username, discord_id, avatar_url FROM users"
        " WHERE lower(username) = lower(%s) ORDER BY discord_id NULLS FIRST, created_at",
        (username,),
    ).fetchall()
    if len(rows) > 1 and rows[0]["discord_id"] is not None:
        raise Conflict(f"several users are named {username!r}")
    if rows:
        return User.from_row(rows[0])
    row = conn.execute(
        "INSERT INTO users (username) VALUES (%s)"
        " ON CONFLICT (lower(username)) WHERE discord_id IS NULL"
        " DO UPDATE SET updated_at = now()"
        " RETURNING id, username, discord_id, avatar_url",
        (username,),
    ).fetchone()
    assert row is not None
    return User.from_row(row)


def check_token_allowance(conn: DictConnection, user_id: str, auth: AuthSettings) -> None:
    """Refuse a new token past the user's pace (429) or their number of live tokens (409).

    The user's row is locked until the caller's transaction ends, so concurrent requests are
    counted one by one.
    """
    from mediavault.ratelimits import take

    row = conn.execute(
        "SELECT (SELECT count(*) FROM api_tokens WHERE user_id = u.id) AS live"
        " FROM users u WHERE u.id = %s FOR UPDATE",
        (user_id,),
    ).fetchone()
    assert row is not None
    if row["live"] >= auth.api_tokens_per_user:
        raise Conflict(
            f"you hold {row['live']} API tokens, the most allowed; revoke one you no longer use",
            code="too_many_tokens",
        )
    wait = take(conn, "api-token-create", user_id, auth.api_token_creates_per_user_per_hour, 3600)
    if wait:
        raise TooManyRequests(
            f"at most {auth.api_token_creates_per_user_per_hour} new API tokens an hour",
            retry_after=wait,
            code="token_rate_limited",
        )


def create_api_token(conn: DictConnection, user_id: str, name: str) -> CreatedToken:
    """A new personal API token; only its hash is stored."""
    token = new_token()
    row = conn.execute(
        "INSERT INTO api_tokens (user_id, name, token_hash) VALUES (%s, %s, %s)"
        " RETURNING id, name, created_at",
        (user_id, name, hash_token(token)),
    ).fetchone()
    assert row is not None
    return CreatedToken(
        id=str(row["id"]), name=row["name"], token=token, created_at=row["created_at"]
    )


# One round trip: find the token's user and, at most once a minute, note that it was used.
_USER_BY_API_TOKEN = """
WITH hit AS (
    SELECT t.id AS token_id, u.id, u.username, u.discord_id, u.avatar_url
    FROM api_tokens t JOIN users u ON u.id = t.user_id
    WHERE t.token_hash = %(hash)s
), touched AS (
    UPDATE api_tokens SET last_used_at = now()
    WHERE id = (SELECT token_id FROM hit)
      AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
)
SELECT id, username, discord_id, avatar_url FROM hit
"""  # noqa: S105  (SQL, not a secret)

_USER_BY_SESSION = """
WITH hit AS (
    SELECT s.id AS session_id, u.id, u.username, u.discord_id, u.avatar_url
    FROM sessions s JOIN users u ON u.id = s.user_id
    WHERE s.token_hash = %(hash)s AND s.expires_at > now()
), touched AS (
    UPDATE sessions SET last_used_at = now()
    WHERE id = (SELECT session_id FROM hit)
      AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')
)
SELECT id, username, discord_id, avatar_url FROM hit
"""


def user_by_api_token(conn: DictConnection, token: str) -> User | None:
    """The owner of a live API token, or None."""
    row = conn.execute(_USER_BY_API_TOKEN, {"hash": hash_token(token)}).fetchone()
    return None if row is None else User.from_row(row)


def user_by_session(conn: DictConnection, session_token: str) -> User | None:
    """The owner of an unexpired session, or None."""
    row = conn.execute(_USER_BY_SESSION, {"hash": hash_token(session_token)}).fetchone()
    return None if row is None else User.from_row(row)


def upsert_discord_user(
    conn: DictConnection, discord_id: str, username: str, avatar_url: str | None
) -> User:
    """The user for a Discord account, created on first sign-in, renamed when Discord says so."""
    row = conn.execute(
        "INSERT INTO users (discord_id, username, avatar_url, last_login_at)"
        " VALUES (%s, %s, %s, now())"
        " ON CONFLICT (discord_id) DO UPDATE SET username = EXCLUDED.username,"
        " avatar_url = EXCLUDED.avatar_url, last_login_at = now(), updated_at = now()"
        " RETURNING id, username, discord_id, avatar_url",
        (discord_id, username, avatar_url),
    ).fetchone()
    assert row is not None
    return User.from_row(row)


def list_api_tokens(
    conn: DictConnection, user_id: str, limit: int, after: Cursor | None
) -> tuple[list[schemas.ApiToken], Cursor | None]:
    """A page of the user's tokens, oldest first, without any secret; the next page's cursor."""
    from mediavault.pagination import Cursor

    rows = conn.execute(
        "SELECT id, name, created_at, last_used_at FROM api_tokens WHERE user_id = %(user)s"
        " AND (%(at)s::timestamptz IS NULL OR (created_at, id) > (%(at)s, %(id)s::uuid))"
        " ORDER BY created_at, id LIMIT %(limit)s",
        {"user": user_id, "at": after.at if after else None, "id": after.id if after else None,
         "limit": limit + 1},
    ).fetchall()  # fmt: skip
    more = len(rows) > limit
    rows = rows[:limit]
    items: list[schemas.ApiToken] = [
        {"id": str(row["id"]), "name": row["name"], "created_at": row["created_at"],
         "last_used_at": row["last_used_at"]}
        for row in rows
    ]  # fmt: skip
    last = rows[-1] if more else None
    return items, Cursor(last["created_at"], str(last["id"])) if last else None


def delete_api_token(conn: DictConnection, user_id: str, token_id: str) -> bool:
    """Revoke one of the user's tokens at once; False when it is not theirs or not there."""
    result = conn.execute(
        "DELETE FROM api_tokens WHERE id = %s AND user_id = %s", (token_id, user_id)
    )
    return result.rowcount > 0
