"""The shared HTTP layer, through tiny real functions run by functions-framework's create_app."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from functions_framework import create_app

from tests.conftest import Stack

ROOT = Path(__file__).resolve().parent.parent

DEMO = textwrap.dedent(
    """
    from __future__ import annotations

    from mediavault.errors import BadRequest
    from mediavault.function import create_function
    from mediavault.schemas import Request
    from mediavault.web import Endpoint, RequestContext, json_response


    class Echo(Request):
        title: str


    def ok(ctx: RequestContext):
        return json_response({"ok": True})


    def me(ctx: RequestContext):
        return json_response(ctx.user().to_dict())


    def echo(ctx: RequestContext):
        return json_response({"title": ctx.body(Echo).title}, status=201)


    def item(ctx: RequestContext, item_id: str):
        return json_response({"id": item_id})


    def bad(ctx: RequestContext):
        raise BadRequest("title is too long", code="title_too_long")


    def boom(ctx: RequestContext):
        raise RuntimeError("db password is hunter2")


    app = create_function("demo", lambda registry: [
        Endpoint("/api/demo/ok", ("GET",), ok),
        Endpoint("/api/demo/me", ("GET",), me),
        Endpoint("/api/demo/echo", ("POST",), echo),
        Endpoint("/api/demo/items/<uuid:item_id>", ("GET",), item),
        Endpoint("/api/demo/bad", ("GET",), bad),
        Endpoint("/api/demo/boom", ("GET",), boom),
    ])


    def demo(request):
        return app(request)
    """
)


@pytest.fixture
def client(stack: Stack, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FlaskClient:
    for name, value in stack.env.items():
        monkeypatch.setenv(name, value)
    source = tmp_path / "main.py"
    source.write_text(DEMO)
    app = create_app("demo", str(source))  # type: ignore[no-untyped-call]
    test_client: FlaskClient = app.test_client()
    return test_client


def _error(response: Any) -> dict[str, str]:
    assert response.is_json
    body = response.get_json()
    assert set(body) >= {"error"}
    assert set(body["error"]) == {"code", "message"}
    return dict(body["error"])


def test_a_handler_answers_json_with_a_request_id(client: FlaskClient) -> None:
    response = client.get("/api/demo/ok", headers={"X-Request-Id": "req-123"})
    assert response.status_code == 200
    assert response.get_json() == {"ok": True}
    assert response.headers["X-Request-Id"] == "req-123"
    assert response.headers["X-MediaVault-Function"] == "demo"


def test_a_hostile_request_id_is_replaced(client: FlaskClient) -> None:
    response = client.get("/api/demo/ok", headers={"X-Request-Id": 'a" onload=x' * 10})
    assert response.headers["X-Request-Id"].isalnum()


def test_http_errors_keep_their_status_and_code(client: FlaskClient) -> None:
    response = client.get("/api/demo/bad")
    assert response.status_code == 400
    assert _error(response) == {"code": "title_too_long", "message": "title is too long"}


def test_unknown_paths_and_methods_are_json(client: FlaskClient) -> None:
    missing = client.get("/api/demo/nope")
    assert missing.status_code == 404
    assert _error(missing)["code"] == "not_found"
    wrong = client.delete("/api/demo/ok")
    assert wrong.status_code == 405
    assert _error(wrong)["code"] == "method_not_allowed"
    assert "GET" in wrong.headers["Allow"]


def test_url_converters_reject_malformed_ids_with_404(client: FlaskClient) -> None:
    assert client.get("/api/demo/items/not-a-uuid").status_code == 404
    good = client.get("/api/demo/items/6f1e3c1e-8a52-4b8e-9a43-3c8a2b1c0d9e")
    assert good.get_json() == {"id": "6f1e3c1e-8a52-4b8e-9a43-3c8a2b1c0d9e"}


def test_an_unexpected_exception_is_a_500_without_details(client: FlaskClient) -> None:
    response = client.get("/api/demo/boom")
    assert response.status_code == 500
    assert _error(response) == {"code": "internal", "message": "internal error"}
    assert b"hunter2" not in response.data
    assert b"Traceback" not in response.data


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b"\xff\xfe"])
def test_bad_json_bodies_are_400(client: FlaskClient, body: bytes) -> None:
    response = client.post("/api/demo/echo", data=body, content_type="application/json")
    assert response.status_code == 400
    assert _error(response)["code"] == "bad_request"


def test_a_json_body_is_read(client: FlaskClient) -> None:
    response = client.post("/api/demo/echo", json={"title": "x"})
    assert response.status_code == 201
    assert response.get_json() == {"title": "x"}


def test_authentication_by_api_token(client: FlaskClient, stack: Stack) -> None:
    assert _error(client.get("/api/demo/me"))["code"] == "unauthorized"
    malformed = client.get("/api/demo/me", headers={"Authorization": "Bearer a b"})
    assert malformed.status_code == 401
    unknown = client.get("/api/demo/me", headers={"Authorization": "Bearer mvt_" + "x" * 43})
    assert unknown.status_code == 401
    token = subprocess.run(
        [sys.executable, "-m", "mediavault.cli", "token", "create", "--user", "erin"],
        env=stack.env, capture_output=True, text=True, check=True, timeout=60,
    ).stdout.strip()  # fmt: skip
    response = client.get("/api/demo/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert response.get_json()["username"] == "erin"


@pytest.mark.parametrize("name", ["auth", "presign", "media", "collections", "share"])
def test_each_real_function_serves_healthz_in_process(
    stack: Stack, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    for variable, value in stack.env.items():
        monkeypatch.setenv(variable, value)
    source = str(ROOT / "functions" / name / "main.py")
    client = create_app(name, source).test_client()  # type: ignore[no-untyped-call]
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json()["function"] == name
