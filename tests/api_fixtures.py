"""Fixtures for API tests: users with tokens, and the real functions' apps as test clients."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from mediavault.devstack.oauth import ServedApp
from mediavault.services import Services
from mediavault.users import create_api_token, get_or_create_local_user
from tests.harness import Stack

FUNCTIONS_DIR = Path(__file__).resolve().parent.parent / "functions"


@dataclass(frozen=True)
class ApiUser:
    """A user and the Authorization header that speaks for them."""

    id: str
    name: str
    headers: dict[str, str]


MakeUser = Callable[[], ApiUser]
FunctionClient = Callable[..., FlaskClient]


@pytest.fixture
def make_user(services: Services) -> MakeUser:
    """A fresh local user with an API token, per call."""

    def make() -> ApiUser:
        name = f"user-{uuid.uuid4().hex[:10]}"
        with services.pool.connection() as conn:
            user = get_or_create_local_user(conn, name)
            token = create_api_token(conn, user.id, "tests")
        return ApiUser(user.id, name, {"Authorization": f"Bearer {token.token}"})

    return make


@pytest.fixture
def alice(make_user: MakeUser) -> ApiUser:
    return make_user()


@pytest.fixture
def bob(make_user: MakeUser) -> ApiUser:
    return make_user()


@pytest.fixture
def function_client(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> FunctionClient:
    """The real function `name` through functions-framework, with settings overrides."""

    def client(name: str, **overrides: str) -> FlaskClient:
        with monkeypatch.context() as patch:
            for variable, value in {**stack.env, **overrides}.items():
                patch.setenv(variable, value)
            app: Any = create_app(name, str(FUNCTIONS_DIR / name / "main.py"))  # type: ignore[no-untyped-call]
        test_client: FlaskClient = app.test_client()
        return test_client

    return client


@pytest.fixture
def presign(function_client: FunctionClient) -> FlaskClient:
    return function_client("presign")


@pytest.fixture
def media_api(function_client: FunctionClient) -> FlaskClient:
    return function_client("media")


@pytest.fixture
def collections_api(function_client: FunctionClient) -> FlaskClient:
    return function_client("collections")


@pytest.fixture
def share_api(function_client: FunctionClient) -> FlaskClient:
    return function_client("share")


@pytest.fixture
def served_share(stack: Stack, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServedApp]:
    """The share function served over HTTP on a port of its own (an origin no setting names)."""
    with monkeypatch.context() as patch:  # the function reads its settings at import
        for name, value in stack.env.items():
            patch.setenv(name, value)
        app: Any = create_app("share", str(FUNCTIONS_DIR / "share" / "main.py"))  # type: ignore[no-untyped-call]
    served = ServedApp(app)
    try:
        yield served
    finally:
        served.stop()
