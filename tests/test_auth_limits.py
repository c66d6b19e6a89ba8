"""Bounds on what one client or user can make the auth function store: sign-ins and tokens."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager

import httpx

from mediavault.devstack.oauth import FakeDiscord, ServedApp
from mediavault.services import Services
from tests.auth_fixtures import StartAuth, browser_client, sign_in


def _login_states(services: Services) -> int:
    with services.pool.connection() as conn:
        row = conn.execute("SELECT count(*) AS n FROM oauth_login_states").fetchone()
    assert row is not None
    return int(row["n"])


def test_sign_in_starts_are_limited_per_client(start_auth: StartAuth, services: Services) -> None:
    auth = start_auth(SIGNIN_STARTS_PER_CLIENT="5")
    login = f"{auth.base_url}/api/auth/login"
    here = {"X-Forwarded-For": "198.51.100.77"}
    before = _login_states(services)
    statuses = [httpx.get(login, headers=here).status_code for _ in range(8)]
    assert statuses == [302] * 5 + [429] * 3
    assert _login_states(services) - before <= 5  # a refused start stores nothing
    limited = httpx.get(login, headers=here)
    assert limited.json()["error"]["code"] == "too_many_sign_ins"
    assert 0 < int(limited.headers["Retry-After"]) <= 600
    # Another client (here: another IPv6 /64) is not held back by this one.
    assert httpx.get(login, headers={"X-Forwarded-For": "2001:db8:9::1"}).status_code == 302


@contextmanager
def _signed_in(auth: ServedApp, discord: FakeDiscord) -> Iterator[httpx.Client]:
    """A browser signed in as a Discord user of its own (no tokens from other tests)."""
    discord_id = str(secrets.randbelow(10**17) + 10**17)
    discord.user = {"id": discord_id, "username": f"u{discord_id[-6:]}", "avatar": None}
    with browser_client() as browser:
        assert sign_in(browser, auth).status_code == 200
        browser.headers["Origin"] = auth.base_url  # what a browser adds to the app's writes
        yield browser


def test_token_creation_is_paced_and_bounded(start_auth: StartAuth, discord: FakeDiscord) -> None:
    auth = start_auth(API_TOKEN_CREATES_PER_USER_PER_HOUR="4", API_TOKENS_PER_USER="6")
    tokens = f"{auth.base_url}/api/auth/tokens"
    with _signed_in(auth, discord) as browser:
        made = [browser.post(tokens, json={"name": f"t{n}"}) for n in range(5)]
        assert [r.status_code for r in made] == [201] * 4 + [429]
        assert made[-1].json()["error"]["code"] == "token_rate_limited"
        assert int(made[-1].headers["Retry-After"]) > 0

    auth = start_auth(API_TOKEN_CREATES_PER_USER_PER_HOUR="100", API_TOKENS_PER_USER="3")
    tokens = f"{auth.base_url}/api/auth/tokens"
    with _signed_in(auth, discord) as browser:
        made = [browser.post(tokens, json={"name": f"t{n}"}) for n in range(4)]
        assert [r.status_code for r in made] == [201] * 3 + [409]
        assert made[-1].json()["error"]["code"] == "too_many_tokens"
        # Revoking one makes room for another.
        first = made[0].json()["id"]
        assert browser.delete(f"{tokens}/{first}").status_code == 204
        assert browser.post(tokens, json={"name": "again"}).status_code == 201


def test_the_token_list_is_paged(start_auth: StartAuth, discord: FakeDiscord) -> None:
    auth = start_auth(API_TOKEN_CREATES_PER_USER_PER_HOUR="100")
    tokens = f"{auth.base_url}/api/auth/tokens"
    with _signed_in(auth, discord) as browser:
        for n in range(5):
            assert browser.post(tokens, json={"name": f"t{n}"}).status_code == 201
        seen: list[str] = []
        page = browser.get(tokens, params={"limit": 2}).json()
        pages = 1
        while True:
            assert len(page["items"]) <= 2
            seen += [item["name"] for item in page["items"]]
            if page["next_cursor"] is None:
                break
            page = browser.get(tokens, params={"limit": 2, "cursor": page["next_cursor"]}).json()
            pages += 1
        assert seen == [f"t{n}" for n in range(5)]  # oldest first, each once
        assert pages == 3
        assert browser.get(tokens, params={"limit": 0}).status_code == 400
        assert browser.get(tokens, params={"cursor": "nonsense!"}).status_code == 400


def test_reconcile_drops_counters_whose_window_ended_long_ago(services: Services) -> None:
    from mediavault.ratelimits import take
    from mediavault.reconcile import reconcile_once

    with services.pool.connection() as conn:
        assert take(conn, "test-scope", "old", 1, 60) == 0
        assert take(conn, "test-scope", "old", 1, 60) > 0  # the limit holds within the window
        assert take(conn, "test-scope", "new", 1, 60) == 0
        conn.execute(
            "UPDATE rate_limit_windows SET window_started_at = now() - interval '2 days'"
            " WHERE scope = 'test-scope' AND key = 'old'"
        )
    reconcile_once(services)
    with services.pool.connection() as conn:
        keys = conn.execute(
            "SELECT key FROM rate_limit_windows WHERE scope = 'test-scope'"
        ).fetchall()
    assert [row["key"] for row in keys] == ["new"]
