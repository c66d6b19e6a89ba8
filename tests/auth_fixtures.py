"""Fixtures for the auth tests: a fake Discord and the real auth function served over HTTP."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest
from functions_framework import create_app

from mediavault.devstack.oauth import CLIENT_ID, CLIENT_SECRET, FakeDiscord, ServedApp
from tests.harness import Stack, free_port

AUTH_SOURCE = str(Path(__file__).resolve().parent.parent / "functions" / "auth" / "main.py")
StartAuth = Callable[..., ServedApp]


@pytest.fixture(scope="session")
def discord_server() -> Iterator[tuple[FakeDiscord, ServedApp]]:
    """The fake Discord, served on a loopback port."""
    fake = FakeDiscord()
    served = ServedApp(fake)
    fake.base_url = served.base_url
    try:
        yield fake, served
    finally:
        served.stop()


@pytest.fixture
def discord(discord_server: tuple[FakeDiscord, ServedApp]) -> FakeDiscord:
    """The fake provider, with its knobs reset for each test."""
    fake = discord_server[0]
    fake.user = {"id": "80351110224678912", "username": "nelly", "avatar": "a1"}
    fake.guilds = [{"id": "1", "name": "Home"}]
    fake.authorize_error = None
    fake.token_status = None
    fake.token_requests.clear()
    return fake


def auth_environment(stack: Stack, discord_url: str, api_base_url: str) -> dict[str, str]:
    """The auth function's settings: the test stack, the fake Discord, its own base URL."""
    return {
        **stack.env,
        "API_BASE_URL": api_base_url,
        "FRONTEND_URL": f"{discord_url}/frontend",
        "DISCORD_CLIENT_ID": CLIENT_ID,
        "DISCORD_CLIENT_SECRET": CLIENT_SECRET,
        "DISCORD_AUTHORIZE_URL": f"{discord_url}/oauth2/authorize",
        "DISCORD_TOKEN_URL": f"{discord_url}/api/oauth2/token",
        "DISCORD_API_BASE_URL": f"{discord_url}/api",
    }


@pytest.fixture
def start_auth(
    stack: Stack, discord: FakeDiscord, monkeypatch: pytest.MonkeyPatch
) -> Iterator[StartAuth]:
    """Serve the real auth function (functions-framework's app) with settings overrides."""
    started: list[ServedApp] = []

    def start(**overrides: str) -> ServedApp:
        port = free_port()
        env = {**auth_environment(stack, discord.base_url, f"http://127.0.0.1:{port}"), **overrides}
        with monkeypatch.context() as patch:
            for name, value in env.items():
                patch.setenv(name, value)
            app = create_app("auth", AUTH_SOURCE)  # type: ignore[no-untyped-call]
        served = ServedApp(app, port)
        started.append(served)
        return served

    yield start
    for served in started:
        served.stop()


@pytest.fixture
def auth(start_auth: StartAuth) -> ServedApp:
    """The auth function with the default test settings."""
    return start_auth()


def browser_client() -> httpx.Client:
    """A browser-like client: follows redirects, keeps cookies."""
    return httpx.Client(follow_redirects=True, timeout=10.0)


def sign_in(browser: httpx.Client, auth: ServedApp, query: str = "") -> httpx.Response:
    """Go through the whole Discord sign-in; the final response is the frontend's."""
    return browser.get(f"{auth.base_url}/api/auth/login{query}")
