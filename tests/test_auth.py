"""Discord sign-in end to end against a fake provider, sessions, logout and API tokens."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from functions_framework import create_app

from mediavault.devstack.oauth import FakeDiscord, ServedApp
from mediavault.services import Services
from tests.auth_fixtures import (
    AUTH_SOURCE,
    StartAuth,
    auth_environment,
    browser_client,
    sign_in,
)
from tests.harness import Stack, free_port


def _callback_url(browser: httpx.Client, auth: ServedApp) -> str:
    """Start a sign-in and stop at the redirect back to us: the URL Discord sent the browser to."""
    login = browser.get(f"{auth.base_url}/api/auth/login", follow_redirects=False)
    assert login.status_code == 302
    authorize = browser.get(login.headers["Location"], follow_redirects=False)
    assert authorize.status_code == 302
    return authorize.headers["Location"]


def _sessions(services: Services) -> int:
    with services.pool.connection() as conn:
        row = conn.execute("SELECT count(*) AS n FROM sessions").fetchone()
    assert row is not None
    return int(row["n"])


def _error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


def test_sign_in_end_to_end(auth: ServedApp, discord: FakeDiscord, services: Services) -> None:
    before = _sessions(services)
    with browser_client() as browser:
        final = sign_in(browser, auth, "?next=/collections/7")
        assert final.status_code == 200
        assert str(final.url) == f"{discord.base_url}/frontend/collections/7"
        assert [r.status_code for r in final.history] == [302, 302, 302]
        me = browser.get(f"{auth.base_url}/api/auth/me")
    assert me.status_code == 200
    body = me.json()
    assert body["username"] == "nelly"
    assert body["discord_id"] == discord.user["id"]
    assert body["avatar_url"] == f"https://cdn.discordapp.com/avatars/{discord.user['id']}/a1.png"
    assert _sessions(services) == before + 1
    [token_request] = discord.token_requests
    assert len(token_request["code_verifier"]) >= 43
    authorize_url = final.history[0].headers["Location"]
    query = parse_qs(urlsplit(authorize_url).query)
    assert query["scope"] == ["identify"]
    assert query["code_challenge_method"] == ["S256"]


def test_second_sign_in_updates_the_user(auth: ServedApp, discord: FakeDiscord) -> None:
    with browser_client() as browser:
        sign_in(browser, auth)
        first = browser.get(f"{auth.base_url}/api/auth/me").json()
    discord.user = {**discord.user, "username": "nelly_renamed", "avatar": None}
    with browser_client() as browser:
        sign_in(browser, auth)
        second = browser.get(f"{auth.base_url}/api/auth/me").json()
    assert second["id"] == first["id"]
    assert second["username"] == "nelly_renamed"
    assert second["avatar_url"] is None


def test_callback_without_state_is_400_and_makes_no_session(
    auth: ServedApp, services: Services
) -> None:
    before = _sessions(services)
    response = httpx.get(f"{auth.base_url}/api/auth/callback?code=abc")
    assert response.status_code == 400
    assert _error_code(response) == "invalid_state"
    assert _sessions(services) == before


def test_wrong_state_is_400(auth: ServedApp, services: Services) -> None:
    before = _sessions(services)
    with browser_client() as browser:
        url = _callback_url(browser, auth)
        wrong = url.replace("state=", "state=x")
        response = browser.get(wrong)
    assert response.status_code == 400
    assert _error_code(response) == "invalid_state"
    assert _sessions(services) == before


def test_replayed_state_is_400(auth: ServedApp, services: Services) -> None:
    with browser_client() as browser:
        url = _callback_url(browser, auth)
        login_cookie = browser.cookies.get("mv_oauth")
        assert login_cookie
        assert browser.get(url).status_code == 200
        before = _sessions(services)
        browser.cookies.set("mv_oauth", login_cookie)
        replay = browser.get(url)
    assert replay.status_code == 400
    assert _error_code(replay) == "invalid_state"
    assert _sessions(services) == before


def test_state_from_another_browser_is_400(auth: ServedApp, services: Services) -> None:
    before = _sessions(services)
    with browser_client() as victim, browser_client() as attacker:
        url = _callback_url(victim, auth)
        _callback_url(attacker, auth)  # the attacker has a login cookie of its own
        response = attacker.get(url)
    assert response.status_code == 400
    assert _error_code(response) == "invalid_state"
    assert _sessions(services) == before


def test_provider_error_is_a_clear_403(auth: ServedApp, discord: FakeDiscord) -> None:
    discord.authorize_error = "access_denied"
    with browser_client() as browser:
        response = sign_in(browser, auth)
        assert response.status_code == 403
        assert _error_code(response) == "access_denied"
        assert browser.get(f"{auth.base_url}/api/auth/me").status_code == 401


@pytest.mark.parametrize("status", [400, 500])
def test_token_endpoint_failure_is_502_json(
    auth: ServedApp, discord: FakeDiscord, status: int
) -> None:
    discord.token_status = status
    with browser_client() as browser:
        response = sign_in(browser, auth)
    assert response.status_code == 502
    assert _error_code(response) == "provider_error"
    assert "Traceback" not in response.text


def test_provider_down_is_502_json(start_auth: StartAuth) -> None:
    auth = start_auth(DISCORD_TOKEN_URL=f"http://127.0.0.1:{free_port()}/token")
    with browser_client() as browser:
        response = sign_in(browser, auth)
    assert response.status_code == 502
    assert _error_code(response) == "provider_unavailable"


def test_a_browser_gets_an_html_error_page(auth: ServedApp, discord: FakeDiscord) -> None:
    discord.authorize_error = "access_denied"
    with browser_client() as browser:
        response = browser.get(
            f"{auth.base_url}/api/auth/login", headers={"Accept": "text/html,*/*;q=0.8"}
        )
    assert response.status_code == 403
    assert response.headers["content-type"].startswith("text/html")
    assert "Sign-in failed" in response.text


def test_guild_allow_list(start_auth: StartAuth, discord: FakeDiscord) -> None:
    auth = start_auth(DISCORD_GUILD_IDS="1,2")
    with browser_client() as browser:
        allowed = sign_in(browser, auth)
        assert allowed.status_code == 200
        scope = parse_qs(urlsplit(allowed.history[0].headers["Location"]).query)["scope"]
        assert scope == ["identify guilds"]
    discord.guilds = [{"id": "99", "name": "Elsewhere"}]
    with browser_client() as browser:
        denied = sign_in(browser, auth)
        assert denied.status_code == 403
        assert _error_code(denied) == "not_a_member"
        assert browser.get(f"{auth.base_url}/api/auth/me").status_code == 401


@pytest.mark.parametrize(
    "next_param",
    ["https://evil.example/x", "//evil.example/x", "/\\evil.example", "javascript:alert(1)", ""],
)
def test_unsafe_next_is_ignored(auth: ServedApp, discord: FakeDiscord, next_param: str) -> None:
    with browser_client() as browser:
        final = sign_in(browser, auth, f"?next={next_param}")
    assert str(final.url) == f"{discord.base_url}/frontend/"


def test_logout_ends_the_session_server_side(auth: ServedApp) -> None:
    with browser_client() as browser:
        sign_in(browser, auth)
        session = browser.cookies.get("mv_session")
        assert session
        # As the web app sends it: a same-origin POST carries its Origin.
        logout = browser.post(f"{auth.base_url}/api/auth/logout", headers={"Origin": auth.base_url})
        assert logout.status_code == 204
        assert "mv_session=;" in logout.headers["set-cookie"]
    stale = httpx.get(f"{auth.base_url}/api/auth/me", cookies={"mv_session": session})
    assert stale.status_code == 401


def test_expired_sessions_are_rejected(auth: ServedApp, services: Services) -> None:
    with browser_client() as browser:
        sign_in(browser, auth)
        assert browser.get(f"{auth.base_url}/api/auth/me").status_code == 200
        with services.pool.connection() as conn:
            conn.execute(
                "UPDATE sessions SET expires_at = now() - interval '1 second'"
                " WHERE user_id = (SELECT id FROM users WHERE discord_id = %s)",
                ("80351110224678912",),
            )
        assert browser.get(f"{auth.base_url}/api/auth/me").status_code == 401


def test_session_cookie_flags(auth: ServedApp) -> None:
    with browser_client() as browser:
        final = sign_in(browser, auth)
    callback = final.history[-1]
    cookies = callback.headers.get_list("set-cookie")
    [session] = [c for c in cookies if c.startswith("mv_session=")]
    attributes = {part.strip().split("=")[0].lower() for part in session.split(";")}
    assert {"httponly", "max-age", "path"} <= attributes
    assert "samesite=lax" in session.lower()
    assert "max-age=2592000" in session.lower()
    assert "secure" not in attributes  # the API here is plain http


def test_cookies_are_secure_behind_https(
    stack: Stack, discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = auth_environment(stack, discord.base_url, "https://vault.example.test")
    env["SESSION_MAX_AGE_SECONDS"] = "3600"
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    client = create_app("auth", AUTH_SOURCE).test_client()  # type: ignore[no-untyped-call]
    login = client.get("/api/auth/login")
    login_cookie = login.headers["Set-Cookie"]
    assert "Secure" in login_cookie
    authorize = httpx.get(login.headers["Location"], follow_redirects=False)
    callback = urlsplit(authorize.headers["Location"])
    assert callback.netloc == "vault.example.test"
    response = client.get(
        f"{callback.path}?{callback.query}",
        headers={"Cookie": login_cookie.split(";")[0]},
    )
    assert response.status_code == 302
    [session] = [c for c in response.headers.getlist("Set-Cookie") if c.startswith("mv_session=")]
    assert "Secure" in session
    assert "Max-Age=3600" in session


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Basic Zm9vOmJhcg==",
        "Bearer a b",
        "Token abc",
        "Bearer \u2603",
        "Bearer " + "x" * 3000,
    ],
)
def test_malformed_authorization_is_401_never_500(auth: ServedApp, header: str) -> None:
    for method, path in (("GET", "/api/auth/me"), ("GET", "/api/auth/tokens")):
        response = httpx.request(
            method, f"{auth.base_url}{path}", headers={b"Authorization": header.encode()}
        )
        assert response.status_code == 401
        assert _error_code(response) == "unauthorized"


def test_discord_not_configured_is_a_clear_503(start_auth: StartAuth) -> None:
    auth = start_auth(DISCORD_CLIENT_ID="", DISCORD_CLIENT_SECRET="")
    response = httpx.get(f"{auth.base_url}/api/auth/login")
    assert response.status_code == 503
    assert _error_code(response) == "discord_not_configured"
