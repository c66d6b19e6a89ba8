"""What the web app's benchmarks share (not a benchmark itself).

The API's functions and the web function behind the gateway on a throwaway stack (no worker:
nothing is processed), a user signed in by a session made through the core, and Debian's
Chromium driven by Playwright with the browser tests' flags.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediavault.services import Services  # noqa: E402
from mediavault.sessions import create_session  # noqa: E402
from mediavault.users import get_or_create_local_user  # noqa: E402
from tests.harness import (  # noqa: E402
    Stack,
    free_port,
    function_ports,
    functions_behind_gateway,
    layout_for,
    running_stack,
)
from tests.web_fixtures import CHROMIUM, CHROMIUM_FLAGS, DESKTOP  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser, BrowserContext

BUILD = ROOT / "web" / "build" / "index.html"


@dataclass
class WebStack:
    """The running stack, the gateway's URL and the core's services on its database."""

    stack: Stack
    url: str
    services: Services

    def new_user(self) -> tuple[str, str]:
        """A new local user and a session of theirs: (user id, session cookie value)."""
        with self.services.pool.connection() as conn:
            user = get_or_create_local_user(conn, f"bench-{uuid.uuid4().hex[:8]}")
            token, _ = create_session(conn, user.id, 3600, "bench")
        return user.id, token

    def signed_in(self, browser: Browser, session: str) -> BrowserContext:
        """A fresh browser context (own cache and cookies) carrying the session cookie."""
        context = browser.new_context(viewport=DESKTOP)  # type: ignore[arg-type]
        name = self.stack.settings.auth.session_cookie_name
        context.add_cookies([{"name": name, "value": session, "url": self.url + "/"}])
        return context


@contextmanager
def web_stack(prefix: str, extra_env: dict[str, str] | None = None) -> Iterator[WebStack]:
    """Infrastructure, every function behind the gateway (no worker); all stopped afterwards."""
    if not BUILD.is_file():
        raise SystemExit("web/build is missing: run `make web` first")
    with running_stack(prefix) as stack:
        url = f"http://127.0.0.1:{free_port()}"
        env = {
            **stack.env,
            "API_BASE_URL": url,
            "FRONTEND_URL": url,
            "MEDIAVAULT_DEV_FUNCTIONS_PORT": str(function_ports()),
            **(extra_env or {}),
        }
        services = Services.from_settings(layout_for(env).settings)
        try:
            with functions_behind_gateway(
                stack, env, ("/healthz", "/api/auth/me", "/api/media", "/")
            ):
                yield WebStack(stack, url, services)
        finally:
            services.close()


@contextmanager
def chromium() -> Iterator[Browser]:
    """Debian's Chromium, headless, as the browser tests launch it."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            yield browser
        finally:
            browser.close()
