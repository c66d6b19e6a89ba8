"""The share page's password form in a real Chromium: its own page unlocks, another site cannot."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from flask.testing import FlaskClient

from mediavault.devstack.oauth import ServedApp
from tests.api_fixtures import ApiUser
from tests.web_fixtures import CHROMIUM, CHROMIUM_FLAGS

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

PASSWORD = "sand castle"


class AutoPost:
    """Another site's page that posts the password form to a share link as soon as it loads."""

    def __init__(self) -> None:
        self.target = ""

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The page."""
        page = (
            f'<!doctype html><form method=post action="{self.target}">'
            f'<input name=password value="{PASSWORD}"></form>'
            "<script>document.forms[0].submit()</script>"
        )
        start_response("200 OK", [("Content-Type", "text/html")])
        return [page.encode()]


def test_the_password_form_unlocks_from_its_page_and_not_from_another_site(
    collections_api: FlaskClient, alice: ApiUser, served_share: ServedApp
) -> None:
    from playwright.sync_api import sync_playwright

    collection = collections_api.post(
        "/api/collections", json={"title": "Locked"}, headers=alice.headers
    ).get_json()["id"]
    token = collections_api.post(
        f"/api/collections/{collection}/shares", json={"password": PASSWORD}, headers=alice.headers
    ).get_json()["token"]
    link = f"{served_share.base_url}/s/{token}"
    attacker = AutoPost()
    attacker.target = f"{link}/unlock"
    evil = ServedApp(attacker)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
            try:
                # Another origin's page: Chromium sends its Origin, and the link stays locked.
                page = browser.new_page()
                with page.expect_response(f"{link}/unlock") as posted:
                    page.goto(f"{evil.base_url}/")
                assert posted.value.status == 403
                assert "cross_site_request" in posted.value.text()
                assert page.goto(link).status == 401  # type: ignore[union-attr]
                page.close()

                # The link's own page (no-referrer: `Origin: null`, `Sec-Fetch-Site: same-origin`).
                page = browser.new_page()
                assert page.goto(link).status == 401  # type: ignore[union-attr]
                page.fill("input[type=password]", PASSWORD)
                with page.expect_navigation():
                    page.click("button")
                assert page.url == link
                assert page.title() == "Locked"
            finally:
                browser.close()
    finally:
        evil.stop()
