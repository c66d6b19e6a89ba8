"""CSRF: a write signed in by the session cookie must come from our own pages; tokens are free."""

from __future__ import annotations

import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from mediavault.services import Services
from mediavault.sessions import create_session
from tests.api_fixtures import ApiUser, FunctionClient
from tests.conftest import Plant
from tests.harness import Stack
from tests.test_share import _shared

FRONTEND = "http://app.example.test"
EVIL = "https://evil.example"
STORAGE_SIBLING = "https://media.example.test"  # same site as the frontend, another origin


@pytest.fixture
def collections_app(function_client: FunctionClient) -> FlaskClient:
    return function_client("collections", FRONTEND_URL=f"{FRONTEND}/app")


@pytest.fixture
def session(services: Services, alice: ApiUser) -> str:
    """A signed-in session of alice's: the cookie a browser would hold."""
    with services.pool.connection() as conn:
        token, _ = create_session(conn, alice.id, 3600, "tests")
    return token


def _post(client: FlaskClient, session: str, headers: dict[str, str], **kwargs: Any) -> Any:
    client.set_cookie("mv_session", session)
    return client.post("/api/collections", headers=headers, **kwargs)


def _collections(client: FlaskClient, user: ApiUser) -> list[str]:
    page = client.get("/api/collections", headers=user.headers).get_json()
    return [c["title"] for c in page["items"]]


@pytest.mark.parametrize(
    "headers",
    [
        {},  # no Origin: an old browser's cross-site form, or a script that lost its token
        {"Origin": EVIL},
        {"Origin": STORAGE_SIBLING},
        {"Origin": "null"},
        {"Sec-Fetch-Site": "cross-site"},
        {"Sec-Fetch-Site": "same-site"},
        {"Origin": EVIL, "Sec-Fetch-Site": "cross-site"},
    ],
    ids=["none", "evil", "same-site", "null", "fetch-cross-site", "fetch-same-site", "both"],
)
def test_cross_site_cookie_writes_are_refused(
    collections_app: FlaskClient, session: str, alice: ApiUser, headers: dict[str, str]
) -> None:
    response = _post(collections_app, session, headers, json={"title": "csrf"})
    assert response.status_code == 403
    assert response.json["error"]["code"] == "cross_site_request"
    assert "csrf" not in _collections(collections_app, alice)


def test_a_text_plain_post_with_the_cookie_is_refused(
    collections_app: FlaskClient, session: str, alice: ApiUser
) -> None:
    # What an HTML form on another site can send without a preflight.
    body = json.dumps({"title": "csrf"})
    cross = _post(collections_app, session, {"Origin": EVIL}, data=body, content_type="text/plain")
    assert cross.status_code == 403
    # Even from our own page, a body that is not JSON is not read.
    own = _post(
        collections_app, session, {"Origin": FRONTEND}, data=body, content_type="text/plain"
    )
    assert own.status_code == 415
    assert own.json["error"]["code"] == "json_required"
    assert "csrf" not in _collections(collections_app, alice)


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": FRONTEND},
        {"Sec-Fetch-Site": "same-origin"},
        # A page with Referrer-Policy no-referrer sends Origin: null even to its own origin.
        {"Origin": "null", "Sec-Fetch-Site": "same-origin"},
    ],
    ids=["origin", "fetch-same-origin", "null-same-origin"],
)
def test_same_origin_json_with_the_cookie_is_accepted(
    collections_app: FlaskClient,
    session: str,
    alice: ApiUser,
    stack: Stack,
    headers: dict[str, str],
) -> None:
    response = _post(collections_app, session, headers, json={"title": "mine"})
    assert response.status_code == 201, response.get_data(as_text=True)
    collection = response.json["id"]
    api_origin = {"Origin": stack.env["API_BASE_URL"]}  # the API's own pages count too
    collections_app.set_cookie("mv_session", session)
    renamed = collections_app.patch(
        f"/api/collections/{collection}", json={"title": "renamed"}, headers=api_origin
    )
    assert renamed.status_code == 200
    assert collections_app.delete(f"/api/collections/{collection}").status_code == 403
    deleted = collections_app.delete(f"/api/collections/{collection}", headers=api_origin)
    assert deleted.status_code == 204


def test_reads_with_the_cookie_need_no_origin(collections_app: FlaskClient, session: str) -> None:
    collections_app.set_cookie("mv_session", session)
    assert collections_app.get("/api/collections", headers={"Origin": EVIL}).status_code == 200


def test_bearer_tokens_are_unaffected(collections_app: FlaskClient, alice: ApiUser) -> None:
    for headers in ({}, {"Origin": EVIL}, {"Sec-Fetch-Site": "cross-site"}):
        response = collections_app.post(
            "/api/collections", json={"title": "scripted"}, headers={**alice.headers, **headers}
        )
        assert response.status_code == 201, headers
    # The body rule is not about cookies: a token's request must be JSON too.
    plain = collections_app.post(
        "/api/collections", data='{"title": "x"}', content_type="text/plain", headers=alice.headers
    )
    assert plain.status_code == 415


def test_a_cross_site_logout_keeps_the_session(
    function_client: FunctionClient, session: str
) -> None:
    auth = function_client("auth", FRONTEND_URL=FRONTEND)
    auth.set_cookie("mv_session", session)
    assert auth.post("/api/auth/logout", headers={"Origin": EVIL}).status_code == 403
    assert auth.get("/api/auth/me").status_code == 200
    assert auth.post("/api/auth/logout", headers={"Origin": FRONTEND}).status_code == 204
    assert auth.get("/api/auth/me").status_code == 401


def test_the_share_password_form_checks_its_origin(
    collections_api: FlaskClient,
    share_api: FlaskClient,
    alice: ApiUser,
    services: Services,
    plant: Plant,
    stack: Stack,
) -> None:
    _, share, _ = _shared(collections_api, alice, services, plant, password="pw")
    form = f"/s/{share['token']}/unlock"
    api = f"/api/share/{share['token']}/unlock"
    # Another site's page posting guesses from its visitors' browsers.
    for headers in ({"Origin": EVIL}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"}):
        refused = share_api.post(form, data={"password": "pw"}, headers=headers)
        assert refused.status_code == 403, headers
        assert refused.get_json()["error"]["code"] == "cross_site_request"
        assert "Set-Cookie" not in refused.headers
        assert share_api.post(api, json={"password": "pw"}, headers=headers).status_code == 403
    # The share page itself (no-referrer: Origin null, but the browser says same-origin).
    own = share_api.post(
        form, data={"password": "pw"}, headers={"Origin": "null", "Sec-Fetch-Site": "same-origin"}
    )
    assert own.status_code == 303
    origin = {"Origin": stack.env["API_BASE_URL"]}
    assert share_api.post(form, data={"password": "pw"}, headers=origin).status_code == 303
    # Not a browser at all (curl, the CLI): nothing says where it comes from; no cookie at stake.
    assert share_api.post(api, json={"password": "pw"}).status_code == 204
