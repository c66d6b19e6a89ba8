"""The local gateway forwards requests faithfully to a real upstream HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import pytest
from werkzeug.serving import make_server
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from mediavault.gateway import Gateway
from mediavault.routes import FUNCTIONS
from tests.harness import free_port

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment


def _echo(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
    request = Request(environ)
    body = {
        "method": request.method,
        "path": request.environ.get("RAW_URI") or request.full_path,
        "query": request.args.to_dict(flat=False),
        "body": request.get_data(as_text=True),
        "headers": {k.lower(): v for k, v in request.headers.items()},
    }
    response = Response(json.dumps(body), mimetype="application/json")
    response.headers["Connection"] = "keep-alive"
    response.set_cookie("mv_session", "abc", httponly=True)
    return response(environ, start_response)


@pytest.fixture(scope="module")
def gateway() -> Iterator[Client]:
    server = make_server("127.0.0.1", 0, _echo, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    upstream = f"http://127.0.0.1:{server.server_port}"
    try:
        yield Client(Gateway(dict.fromkeys(FUNCTIONS, upstream)))
    finally:
        server.shutdown()
        thread.join(10)


def test_method_path_query_body_and_headers_arrive(gateway: Client) -> None:
    response = gateway.post(
        "/api/media/a%20b/x?tag=a&tag=b&q=caf%C3%A9",
        data=b'{"title": "t"}',
        headers={"Content-Type": "application/json", "Authorization": "Bearer mvt_x",
                 "Host": "vault.local:8080"},
    )  # fmt: skip
    assert response.status_code == 200
    echoed = response.json
    assert echoed is not None
    assert echoed["method"] == "POST"
    assert echoed["path"].startswith("/api/media/a%20b/x?")
    assert echoed["query"] == {"tag": ["a", "b"], "q": ["café"]}
    assert echoed["body"] == '{"title": "t"}'
    assert echoed["headers"]["authorization"] == "Bearer mvt_x"
    assert echoed["headers"]["content-type"] == "application/json"
    assert echoed["headers"]["x-forwarded-host"] == "vault.local:8080"


def test_response_headers_pass_but_hop_by_hop_ones_do_not(gateway: Client) -> None:
    response = gateway.get("/api/auth/me")
    assert "mv_session=abc" in response.headers["Set-Cookie"]
    assert "Connection" not in response.headers
    assert response.headers["Content-Type"] == "application/json"


def test_the_gateway_answers_503_json_when_a_function_is_down() -> None:
    client = Client(Gateway({name: f"http://127.0.0.1:{free_port()}" for name in FUNCTIONS}))
    response = client.get("/api/media")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["error"]["code"] == "service_unavailable"
