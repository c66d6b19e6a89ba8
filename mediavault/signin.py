"""The Discord sign-in flow: start (state + PKCE bound to the browser) and finish (session)."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from mediavault.discord import Discord
from mediavault.errors import BadRequest, Forbidden, ServiceUnavailable, TooManyRequests
from mediavault.sessions import (
    LOGIN_STATE_SECONDS,
    consume_login_state,
    create_session,
    save_login_state,
)
from mediavault.tokens import cookie_signer, hash_token
from mediavault.users import User, upsert_discord_user

if TYPE_CHECKING:
    from datetime import datetime

    from itsdangerous import TimestampSigner

    from mediavault.config import Settings
    from mediavault.db import Pool

logger = logging.getLogger(__name__)

LOGIN_COOKIE = "mv_oauth"
_SAFE_PATH = re.compile(r"/[A-Za-z0-9\-._~!$&'()*+,;=:@%/?#]*")


class SigninFailed(BadRequest):
    """A callback that must not produce a session (reason in `code`)."""


@dataclass(frozen=True)
class Started:
    """Where to send the browser, and the signed cookie that binds the sign-in to it."""

    authorize_url: str
    login_cookie: str


@dataclass(frozen=True)
class Finished:
    """A signed-in user with a new session."""

    user: User
    session_token: str
    session_expires_at: datetime
    next_path: str | None


def safe_next_path(value: str | None) -> str | None:
    """A same-site relative path, or None: never an absolute or protocol-relative URL."""
    if not value or len(value) > 1000 or not _SAFE_PATH.fullmatch(value):
        return None
    if value.startswith(("//", "/\\")) or urlsplit(value).netloc:
        return None
    return value


def _signer(settings: Settings) -> TimestampSigner:
    return cookie_signer(settings.auth.session_secret, "oauth-login")


def callback_url(settings: Settings) -> str:
    """The redirect URI registered with Discord."""
    return f"{settings.api_base_url}/api/auth/callback"


def start_signin(settings: Settings, pool: Pool, next_param: str | None, *, client: str) -> Started:
    """Make a state and PKCE verifier, keep them server-side, and build Discord's URL.

    Each start stores a row until it expires, so a client network (`client`'s) may start only
    so many per state lifetime.
    """
    from mediavault.ratelimits import client_network, hashed, take

    if not settings.auth.discord_client_id or not settings.auth.discord_client_secret:
        raise ServiceUnavailable(
            "Discord sign-in is not configured (set DISCORD_CLIENT_ID and DISCORD_CLIENT_SECRET)",
            code="discord_not_configured",
        )
    state = secrets.token_urlsafe(32)
    browser = secrets.token_urlsafe(32)
    code_verifier = secrets.token_urlsafe(64)  # 86 characters, within PKCE's 43..128
    limit = settings.auth.signin_starts_per_client
    with pool.connection() as conn:
        wait = take(
            conn, "signin-start", hashed(client_network(client)), limit, LOGIN_STATE_SECONDS
        )
        if wait:
            raise TooManyRequests(
                f"at most {limit} sign-ins may be started from here in 10 minutes",
                retry_after=wait,
                code="too_many_sign_ins",
            )
        save_login_state(conn, state, browser, code_verifier, safe_next_path(next_param))
    discord = Discord(settings.auth, callback_url(settings))
    return Started(
        authorize_url=discord.authorize_url(state, code_verifier),
        login_cookie=_signer(settings).sign(browser).decode(),
    )


def finish_signin(
    settings: Settings,
    pool: Pool,
    *,
    code: str | None,
    state: str | None,
    error: str | None,
    login_cookie: str | None,
    user_agent: str | None,
) -> Finished:
    """Check the state against the browser, exchange the code, upsert the user, open a session."""
    from itsdangerous import BadSignature

    if not state:
        raise SigninFailed("the sign-in has no state", code="invalid_state")
    with pool.connection() as conn:
        pending = consume_login_state(conn, state)  # consumed first: a state works only once
    if pending is None:
        raise SigninFailed("unknown or already used sign-in state", code="invalid_state")
    try:
        browser = _signer(settings).unsign(login_cookie or "", max_age=LOGIN_STATE_SECONDS).decode()
    except BadSignature:
        raise SigninFailed(
            "this sign-in was started in another browser or has expired", code="invalid_state"
        ) from None
    if not secrets.compare_digest(hash_token(browser), pending.browser_hash):
        raise SigninFailed("this sign-in was started in another browser", code="invalid_state")
    if pending.expired:
        raise SigninFailed("the sign-in took too long; start again", code="invalid_state")
    if error:
        raise Forbidden(
            f"Discord did not authorise the sign-in: {error[:100]}", code="access_denied"
        )
    if not code:
        raise SigninFailed("the sign-in has no code", code="invalid_request")

    discord = Discord(settings.auth, callback_url(settings))
    token = discord.exchange_code(code, pending.code_verifier)
    identity = discord.identity(token)
    allowed = set(settings.auth.discord_guild_ids)
    if allowed and not (discord.guild_ids(token) & allowed):
        raise Forbidden("you are not a member of a server allowed here", code="not_a_member")
    with pool.connection() as conn:
        user = upsert_discord_user(conn, identity.id, identity.username, identity.avatar_url)
        session, expires_at = create_session(
            conn, user.id, settings.auth.session_max_age_seconds, user_agent
        )
    logger.info("signed in", extra={"user_id": user.id})
    return Finished(user, session, expires_at, pending.next_path)
