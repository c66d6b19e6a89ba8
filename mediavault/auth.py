"""Request authentication: one path for every function (session cookie or bearer API token)."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from mediavault.errors import Unauthorized
from mediavault.users import User, user_by_api_token, user_by_session

if TYPE_CHECKING:
    from mediavault.db import Pool

# Tokens are URL-safe base64 with a short prefix; anything else is rejected before the database.
_TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_\-]{16,200}")


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer …` header; None when absent; 401 when malformed."""
    if authorization is None or not authorization.strip():
        return None
    scheme, _, token = authorization.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not _TOKEN_SHAPE.fullmatch(token):
        raise Unauthorized("malformed Authorization header: expected 'Bearer <token>'")
    return token


def authenticate(pool: Pool, authorization: str | None, session: str | None) -> User:
    """The user behind a bearer token (preferred) or a session cookie, or Unauthorized."""
    token = bearer_token(authorization)
    if token is not None:
        with pool.connection() as conn:
            user = user_by_api_token(conn, token)
        if user is None:
            raise Unauthorized("invalid or revoked API token")
        return user
    if session and _TOKEN_SHAPE.fullmatch(session):
        with pool.connection() as conn:
            user = user_by_session(conn, session)
        if user is not None:
            return user
        raise Unauthorized("session expired or signed out")
    raise Unauthorized("sign in or send an API token")
