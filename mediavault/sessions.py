"""Server-side sessions and pending sign-in states in PostgreSQL (tokens kept as hashes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from mediavault.tokens import hash_token, new_token

if TYPE_CHECKING:
    from mediavault.db import DictConnection

SESSION_PREFIX = "mvs_"
LOGIN_STATE_SECONDS = 600


@dataclass(frozen=True)
class LoginState:
    """A consumed sign-in state: who started it and where to go afterwards."""

    browser_hash: bytes
    code_verifier: str
    next_path: str | None
    expired: bool


def save_login_state(
    conn: DictConnection, state: str, browser: str, code_verifier: str, next_path: str | None
) -> None:
    """Remember a sign-in in progress (and forget the long-abandoned ones)."""
    conn.execute("DELETE FROM oauth_login_states WHERE expires_at < now() - interval '1 hour'")
    conn.execute(
        "INSERT INTO oauth_login_states (state_hash, browser_hash, code_verifier, next_path,"
        " expires_at) VALUES (%s, %s, %s, %s, now() + make_interval(secs => %s))",
        (hash_token(state), hash_token(browser), code_verifier, next_path, LOGIN_STATE_SECONDS),
    )


def consume_login_state(conn: DictConnection, state: str) -> LoginState | None:
    """Take a state out, so that it can never be used twice; None if unknown or already used."""
    row = conn.execute(
        "DELETE FROM oauth_login_states WHERE state_hash = %s"
        " RETURNING browser_hash, code_verifier, next_path, expires_at < now() AS expired",
        (hash_token(state),),
    ).fetchone()
    if row is None:
        return None
    return LoginState(
        browser_hash=bytes(row["browser_hash"]),
        code_verifier=row["code_verifier"],
        next_path=row["next_path"],
        expired=row["expired"],
    )


def create_session(
    conn: DictConnection, user_id: str, max_age_seconds: int, user_agent: str | None
) -> tuple[str, datetime]:
    """A new session for the user; returns the cookie value (shown once) and its expiry."""
    conn.execute("DELETE FROM sessions WHERE user_id = %s AND expires_at < now()", (user_id,))
    token = new_token(SESSION_PREFIX)
    row = conn.execute(
        "INSERT INTO sessions (user_id, token_hash, expires_at, user_agent)"
        " VALUES (%s, %s, now() + make_interval(secs => %s), %s) RETURNING expires_at",
        (user_id, hash_token(token), max_age_seconds, (user_agent or "")[:300]),
    ).fetchone()
    assert row is not None
    return token, row["expires_at"]


def delete_session(conn: DictConnection, token: str) -> bool:
    """End a session server-side; True if it existed."""
    result = conn.execute("DELETE FROM sessions WHERE token_hash = %s", (hash_token(token),))
    return result.rowcount > 0
