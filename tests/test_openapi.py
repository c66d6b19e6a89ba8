"""The OpenAPI document: in step with the route table and the functions, and held to by them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from prometheus_client import CollectorRegistry
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from mediavault.api import auth, collections, media, share, uploads
from mediavault.routes import function_for
from mediavault.services import Services
from mediavault.users import create_api_token, get_or_create_local_user
from scripts.render_openapi import rendered
from tests.api_fixtures import FUNCTIONS_DIR
from tests.harness import Stack

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

DOCUMENT = Path(__file__).resolve().parent.parent / "openapi" / "openapi.yaml"
IMPLEMENTED = {
    "auth": auth.endpoints,
    "presign": uploads.endpoints,
    "media": media.endpoints,
    "collections": collections.endpoints,
    "share": share.endpoints,
}
TESTED = re.compile(r"^/api/")
METHODS = {"get", "post", "put", "patch", "delete"}


def _document() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(DOCUMENT.read_text())
    return loaded


def _openapi_path(pattern: str) -> str:
    """A werkzeug rule (`/api/media/<uuid:id>`) as an OpenAPI path (`/api/media/{id}`)."""
    return re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", pattern)


def test_the_schemas_are_rendered_from_the_declarations() -> None:
    assert DOCUMENT.read_text() == rendered(), "run scripts/render_openapi.py"


def test_every_path_is_served_by_the_function_it_names() -> None:
    for path, item in _document()["paths"].items():
        concrete = re.sub(r"\{\w+\}", "x", path)
        assert function_for(concrete) == item["x-function"], path
        for method, operation in item.items():
            if method in METHODS:
                assert operation["tags"] == [item["x-function"]], (method, path)


def test_every_route_of_the_implemented_functions_is_documented() -> None:
    documented = {
        (method.upper(), path)
        for path, item in _document()["paths"].items()
        for method in item
        if method in METHODS
    }
    for name, endpoints in IMPLEMENTED.items():
        for endpoint in endpoints(CollectorRegistry()):
            if not endpoint.pattern.startswith("/api/"):
                continue  # the HTML share page (/s/…) is for browsers, not in the API document
            for method in endpoint.methods:
                assert (method, _openapi_path(endpoint.pattern)) in documented, (name, endpoint)


class Dispatcher:
    """The functions in one WSGI app, routed by the route table (as the gateway does)."""

    def __init__(self, apps: dict[str, Any]) -> None:
        self.apps = apps

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Hand the request to its function's app."""
        app = self.apps[function_for(environ["PATH_INFO"]) or "media"]
        result: Iterable[bytes] = app(environ, start_response)
        return result


@pytest.fixture(scope="module")
def api_app(stack: Stack) -> Dispatcher:
    from functions_framework import create_app

    env = {
        **stack.env,
        "DISCORD_CLIENT_ID": "schema-test",
        "DISCORD_CLIENT_SECRET": "schema-test",
        "DISCORD_AUTHORIZE_URL": "http://127.0.0.1:9/authorize",
        "DISCORD_TOKEN_URL": "http://127.0.0.1:9/token",
    }
    with pytest.MonkeyPatch.context() as patch:
        for name, value in env.items():
            patch.setenv(name, value)
        apps = {
            name: create_app(name, str(FUNCTIONS_DIR / name / "main.py"))  # type: ignore[no-untyped-call]
            for name in IMPLEMENTED
        }
    return Dispatcher(apps)


@pytest.fixture(scope="module")
def bearer(services: Services) -> dict[str, str]:
    with services.pool.connection() as conn:
        user = get_or_create_local_user(conn, "schemathesis")
        token = create_api_token(conn, user.id, "schemathesis")
    return {"Authorization": f"Bearer {token.token}"}


schema = schemathesis.openapi.from_path(str(DOCUMENT)).include(path_regex=TESTED.pattern)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@schema.parametrize()
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_the_functions_hold_to_the_document(
    case: Any, api_app: Dispatcher, bearer: dict[str, str]
) -> None:
    case.call_and_validate(app=api_app, headers=bearer, checks=CHECKS)
