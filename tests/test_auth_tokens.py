"""Personal API tokens over HTTP, CORS for the frontend only, and sign-in metrics."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import httpx
from prometheus_client.parser import text_string_to_metric_families

from mediavault.devstack.oauth import FakeDiscord, ServedApp
from mediavault.services import Services
from mediavault.tokens import hash_token
from tests.auth_fixtures import browser_client, sign_in


@contextmanager
def _signed_in(auth: ServedApp) -> Iterator[httpx.Client]:
    with browser_client() as browser:
        assert sign_in(browser, auth).status_code == 200
        # What a browser adds to the web app's writes (the cookie alone is refused: CSRF).
        browser.headers["Origin"] = auth.base_url
        yield browser


def test_token_lifecycle_and_immediate_revocation(auth: ServedApp, services: Services) -> None:
    with _signed_in(auth) as browser:
        created = browser.post(f"{auth.base_url}/api/auth/tokens", json={"name": "laptop"})
        assert created.status_code == 201
        body = created.json()
        assert set(body) == {"id", "name", "token", "created_at"}
        token = body["token"]
        bearer = {"Authorization": f"Bearer {token}"}

        me = httpx.get(f"{auth.base_url}/api/auth/me", headers=bearer)
        assert me.status_code == 200
        listed = browser.get(f"{auth.base_url}/api/auth/tokens").json()
        assert [t["name"] for t in listed["items"]] == ["laptop"]
        assert "token" not in listed["items"][0]
        assert listed["next_cursor"] is None

        deleted = browser.delete(f"{auth.base_url}/api/auth/tokens/{body['id']}")
        assert deleted.status_code == 204
        assert httpx.get(f"{auth.base_url}/api/auth/me", headers=bearer).status_code == 401
        again = browser.delete(f"{auth.base_url}/api/auth/tokens/{body['id']}")
        assert again.status_code == 404
    with services.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM api_tokens WHERE token_hash = %s", (hash_token(token),)
        ).fetchone()
    assert row is not None
    assert row["n"] == 0


def test_a_token_works_everywhere_a_session_does(auth: ServedApp) -> None:
    with _signed_in(auth) as browser:
        token = browser.post(f"{auth.base_url}/api/auth/tokens", json={"name": "ci"}).json()
    bearer = {"Authorization": f"Bearer {token['token']}"}
    second = httpx.post(f"{auth.base_url}/api/auth/tokens", json={"name": "x"}, headers=bearer)
    assert second.status_code == 201
    listed = httpx.get(f"{auth.base_url}/api/auth/tokens", headers=bearer).json()
    assert {t["name"] for t in listed["items"]} >= {"ci", "x"}


def test_another_users_token_is_404(auth: ServedApp, discord: FakeDiscord) -> None:
    with _signed_in(auth) as owner:
        token = owner.post(f"{auth.base_url}/api/auth/tokens", json={"name": "mine"}).json()
    discord.user = {"id": "1234567890", "username": "mallory", "avatar": None}
    with _signed_in(auth) as other:
        response = other.delete(f"{auth.base_url}/api/auth/tokens/{token['id']}")
        assert response.status_code == 404
        assert other.get(f"{auth.base_url}/api/auth/tokens").json()["items"] == []
        missing = other.delete(f"{auth.base_url}/api/auth/tokens/{uuid.uuid4()}")
        assert missing.status_code == 404
    bearer = {"Authorization": f"Bearer {token['token']}"}
    assert httpx.get(f"{auth.base_url}/api/auth/me", headers=bearer).status_code == 200


def test_token_names_are_validated(auth: ServedApp) -> None:
    with _signed_in(auth) as browser:
        for body in ({}, {"name": ""}, {"name": "   "}, {"name": "x" * 101}, {"name": 5}):
            response = browser.post(f"{auth.base_url}/api/auth/tokens", json=body)
            assert response.status_code == 400, body
            assert response.json()["error"]["code"] == "bad_request"
    assert httpx.post(f"{auth.base_url}/api/auth/tokens", json={"name": "x"}).status_code == 401


def test_cors_allows_only_the_frontend_with_credentials(
    auth: ServedApp, discord: FakeDiscord
) -> None:
    frontend = discord.base_url  # FRONTEND_URL is {discord}/frontend: its origin is this
    allowed = httpx.get(f"{auth.base_url}/api/auth/me", headers={"Origin": frontend})
    assert allowed.headers["Access-Control-Allow-Origin"] == frontend
    assert allowed.headers["Access-Control-Allow-Credentials"] == "true"
    assert "Origin" in allowed.headers["Vary"]
    other = httpx.get(f"{auth.base_url}/api/auth/me", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers

    preflight = {"Access-Control-Request-Method": "POST", "Origin": frontend}
    ok = httpx.options(f"{auth.base_url}/api/auth/tokens", headers=preflight)
    assert ok.status_code == 204
    assert "POST" in ok.headers["Access-Control-Allow-Methods"]
    assert "Authorization" in ok.headers["Access-Control-Allow-Headers"]
    assert ok.headers["Access-Control-Allow-Origin"] == frontend
    denied = httpx.options(
        f"{auth.base_url}/api/auth/tokens", headers={**preflight, "Origin": "https://evil.example"}
    )
    assert denied.status_code == 403
    assert "Access-Control-Allow-Origin" not in denied.headers


def _samples(auth: ServedApp) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(f"{auth.base_url}/metrics").text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_sign_ins_and_failures_are_counted(auth: ServedApp, discord: FakeDiscord) -> None:
    with _signed_in(auth):
        pass
    discord.authorize_error = "access_denied"
    with browser_client() as browser:
        sign_in(browser, auth)
    httpx.get(f"{auth.base_url}/api/auth/callback?code=x&state=nope")
    samples = _samples(auth)
    assert samples[("mediavault_signins_total", ())] == 1
    failures = "mediavault_signin_failures_total"
    assert samples[(failures, (("reason", "access_denied"),))] == 1
    assert samples[(failures, (("reason", "invalid_state"),))] == 1
