"""The whole local stack behind its gateway for the web app's browser tests, and Chromium."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mediavault.devstack.oauth import FakeDiscord, ServedApp, provider_environment
from tests.harness import Stack, free_port, function_ports, functions_behind_gateway
from tests.worker_fixtures import RunningWorker

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
# No sandbox as root, and no calls to Google's services.
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
MIB = 1024 * 1024
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
# Recorded in every page before its own scripts: CSP violations and uncaught errors.
WATCH_PAGE = """
window.__problems = [];
document.addEventListener('securitypolicyviolation', (e) =>
  window.__problems.push('CSP ' + e.violatedDirective + ' ' + e.blockedURI));
window.addEventListener('error', (e) => window.__problems.push('error ' + e.message));
"""


@dataclass
class WebStack:
    """Every function behind the gateway, the worker, and the development OAuth2 provider."""

    url: str
    discord: FakeDiscord
    stack: Stack

    def new_user(self) -> str:
        """The next sign-in is a new Discord user; their username."""
        name = f"web-{uuid.uuid4().hex[:8]}"
        self.discord.user = {"id": str(uuid.uuid4().int)[:18], "username": name, "avatar": None}
        return name


@pytest.fixture(scope="module")
def web_stack(stack: Stack, worker: RunningWorker) -> Iterator[WebStack]:
    assert (ROOT / "web" / "build" / "index.html").is_file(), "make test builds web/ first"
    discord = FakeDiscord()
    provider = ServedApp(discord)
    discord.base_url = provider.base_url
    url = f"http://127.0.0.1:{free_port()}"
    env = {
        **stack.env,
        "API_BASE_URL": url,
        "FRONTEND_URL": url,
        "MEDIAVAULT_DEV_FUNCTIONS_PORT": str(function_ports()),
        # A multipart upload from a file of a few MiB (5 MiB is S3's smallest part).
        "MULTIPART_THRESHOLD_BYTES": str(5 * MIB),
        "MULTIPART_PART_SIZE_BYTES": str(5 * MIB),
        **provider_environment(provider.base_url),
    }
    probes = ("/healthz", "/api/auth/me", "/api/media", "/api/share/x", "/api/tags")
    try:
        with functions_behind_gateway(stack, env, probes):
            yield WebStack(url, discord, stack)
    finally:
        provider.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield launched
        finally:
            launched.close()


def open_page(browser: Browser, viewport: dict[str, int] = DESKTOP) -> Page:
    """A page in a fresh context (its own cookies) that records CSP violations and errors."""
    context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
    context.add_init_script(WATCH_PAGE)
    return context.new_page()


def open_signed_out(page: Page, web: WebStack) -> None:
    """The app's start page in a fresh context: signed out, whoever signed in before."""
    page.goto(web.url + "/")
    page.get_by_role("link", name="Sign in with Discord").wait_for()


def sign_in(page: Page, web: WebStack, username: str) -> None:
    """Through the app's sign-in button, the real OAuth2 flow, back to the library."""
    open_signed_out(page, web)
    page.get_by_role("link", name="Sign in with Discord").click()
    page.get_by_role("heading", name="Library").wait_for()
    assert page.get_by_text(username).first.is_visible()


def problems(page: Page) -> list[str]:
    """CSP violations and uncaught errors seen by the page so far."""
    found: list[str] = page.evaluate("window.__problems")
    return found


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """Serious and critical axe-core violations (WCAG 2.x A/AA) of the page as it is."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        # Evaluated over DevTools, not as a page script: the app's CSP stays as it is.
        page.evaluate(AXE.read_text())
    result: dict[str, Any] = page.evaluate(
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a',"
        " 'wcag21aa', 'best-practice']}})"
    )
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]][:5]}
        for v in result["violations"]
        if v["impact"] in ("serious", "critical")
    ]
