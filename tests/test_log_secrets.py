"""No secret in any log line: share tokens, API tokens, sessions, OAuth codes and states."""

from __future__ import annotations

import logging
from collections.abc import Iterable

import httpx
import pytest
from flask.testing import FlaskClient

from mediavault.devstack.oauth import FakeDiscord, ServedApp
from mediavault.logs import JsonFormatter
from mediavault.services import Services
from tests.api_fixtures import ApiUser
from tests.auth_fixtures import browser_client, sign_in
from tests.conftest import Plant
from tests.test_share import _shared


def _lines(records: Iterable[logging.LogRecord]) -> list[str]:
    """Each record as every handler could write it: the JSON line and all its attributes."""
    formatter = JsonFormatter()
    return [f"{formatter.format(r)} {r.__dict__!r}" for r in records]


def _assert_absent(lines: list[str], secrets: dict[str, str]) -> None:
    assert len(lines) > 5, "the flows logged nothing: the test would prove nothing"
    for what, secret in secrets.items():
        assert secret, what
        leaks = [line for line in lines if secret in line]
        assert not leaks, f"{what} in the logs: {leaks[0][:300]}"


def test_the_share_flow_logs_no_token(
    caplog: pytest.LogCaptureFixture,
    collections_api: FlaskClient,
    share_api: FlaskClient,
    alice: ApiUser,
    services: Services,
    plant: Plant,
) -> None:
    caplog.set_level(logging.DEBUG)
    _, share, _ = _shared(collections_api, alice, services, plant, password="open sesame")
    token = share["token"]
    share_api.get(f"/s/{token}")
    share_api.post(f"/s/{token}/unlock", data={"password": "wrong"})
    unlocked = share_api.post(f"/s/{token}/unlock", data={"password": "open sesame"})
    assert unlocked.status_code == 303
    assert share_api.get(f"/s/{token}").status_code == 200
    assert share_api.get(f"/api/share/{token}").status_code == 200
    share_api.post(f"/api/share/{token}/unlock", json={"password": "open sesame"})
    share_api.get(f"/api/share/{token}/nothing-here")
    share_api.post(f"/s/{token}/unlock", data={"password": "x"}, headers={"Origin": "https://e.x"})
    for broken in (token[:-1], token + "x"):  # near misses, unknown links
        share_api.get(f"/s/{broken}")
        share_api.get(f"/api/share/{broken}")
    unlock_cookie = next(
        c.split(";")[0].split("=", 1)[1]
        for c in unlocked.headers.getlist("Set-Cookie")
        if c.startswith("mv_share=")
    )
    lines = _lines(caplog.records)
    assert any('"route": "/s/<token>"' in line for line in lines)
    _assert_absent(
        lines,
        {
            "share token": token,
            "share token's random part": token.removeprefix("mvsh_"),
            "unlock cookie": unlock_cookie,
            "share password": "open sesame",
            "the owner's API token": alice.headers["Authorization"].removeprefix("Bearer "),
        },
    )


def test_the_sign_in_and_token_flows_log_no_secret(
    caplog: pytest.LogCaptureFixture, auth: ServedApp, discord: FakeDiscord
) -> None:
    caplog.set_level(logging.DEBUG)
    with browser_client() as browser:
        final = sign_in(browser, auth)
        assert final.status_code == 200
        callback = next(r for r in final.history if r.url.path == "/api/auth/callback")
        code, state = callback.url.params["code"], callback.url.params["state"]
        login = next(r for r in final.history if r.url.path == "/api/auth/login")
        login_cookie = login.cookies["mv_oauth"]
        session = browser.cookies["mv_session"]
        browser.headers["Origin"] = auth.base_url
        created = browser.post(f"{auth.base_url}/api/auth/tokens", json={"name": "laptop"})
        api_token = created.json()["token"]
        bearer = {"Authorization": f"Bearer {api_token}"}
        assert httpx.get(f"{auth.base_url}/api/auth/me", headers=bearer).status_code == 200
        httpx.get(f"{auth.base_url}/api/auth/me", headers={"Authorization": f"Bearer {code}x"})
        # A replayed code and state, and a forged callback: refused, and not logged either.
        browser.get(f"{auth.base_url}/api/auth/callback", params={"code": code, "state": state})
        browser.get(f"{auth.base_url}/api/auth/callback?code=forged-code-1234&state=forged-state")
        assert browser.post(f"{auth.base_url}/api/auth/logout").status_code == 204
    [exchange] = discord.token_requests
    discord_tokens = list(discord._tokens)
    assert discord_tokens
    lines = _lines(caplog.records)
    assert any('"route": "/api/auth/callback"' in line for line in lines)
    _assert_absent(
        lines,
        {
            "OAuth code": code,
            "OAuth state": state,
            "PKCE verifier": exchange["code_verifier"],
            "login cookie": login_cookie,
            "session cookie": session,
            "API token": api_token,
            "Discord access token": discord_tokens[0],
            "forged code": "forged-code-1234",
            "forged state": "forged-state",
        },
    )
