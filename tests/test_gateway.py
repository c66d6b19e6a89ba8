"""The local gateway (`mediavault gateway`, its own process) in front of a real HTTP upstream."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

import httpx
import pytest
from werkzeug.serving import make_server
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from mediavault.gateway import Gateway
from mediavault.routes import FUNCTIONS
from tests.gateway_fixtures import (
    assert_json_error,
    gateway_environment,
    raw_request,
    start_gateway,
)
from tests.harness import ProcessGroup, free_port

if TYPE_CHECKING:
    from pathlib import Path
    from wsgiref.types import StartResponse, WSGIEnvironment

WAIT_SECONDS = 20.0


class Upstream:
    """An upstream that echoes requests, and whose streaming routes wait for the other side."""

    def __init__(self) -> None:
        self.first_part_arrived = threading.Event()
        self.client_read_first_part = threading.Event()

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        if environ["PATH_INFO"] == "/api/media/slow-upload":
            return self._slow_upload(environ, start_response)
        if environ["PATH_INFO"] == "/api/media/slow-download":
            start_response("200 OK", [("Content-Type", "text/plain")])
            return self._slow_download()
        return self._echo(environ, start_response)

    def _echo(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        body = {
            "path": environ.get("RAW_URI"),
            "body": request.get_data(as_text=True),
            "headers": [[k.lower(), v] for k, v in request.headers.items()],
        }
        response = Response(json.dumps(body), mimetype="application/json")
        response.headers["Connection"] = "keep-alive, X-Hop"
        response.headers["X-Hop"] = "for the gateway only"
        response.set_cookie("mv_session", "abc", httponly=True)
        response.set_cookie("mv_other", "def")
        return response(environ, start_response)

    def _slow_upload(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        stream = environ["wsgi.input"]
        first = stream.read(5)
        self.first_part_arrived.set()
        rest = stream.read(int(environ["CONTENT_LENGTH"]) - 5)
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [first + b"|" + rest]

    def _slow_download(self) -> Iterator[bytes]:
        yield b"first part;"
        # Only a gateway that passes the first part on lets the client see it and say so.
        yield b"second part" if self.client_read_first_part.wait(WAIT_SECONDS) else b"held back"


@pytest.fixture(scope="module")
def upstream() -> Iterator[tuple[Upstream, str]]:
    app = Upstream()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield app, f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@pytest.fixture(scope="module")
def gateway(
    upstream: tuple[Upstream, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    log_dir: Path = tmp_path_factory.mktemp("gateway")
    processes = ProcessGroup(log_dir, gateway_environment())
    try:
        yield start_gateway(processes, dict.fromkeys(FUNCTIONS, upstream[1]))
    finally:
        processes.stop_all()


def _echoed(response: httpx.Response) -> dict[str, list[str]]:
    headers: dict[str, list[str]] = {}
    for name, value in response.json()["headers"]:
        headers.setdefault(name, []).append(value)
    return headers


def test_method_path_query_body_and_headers_arrive_as_sent(gateway: str) -> None:
    response = httpx.post(
        gateway + "/api/media/a%20b/x%2Fy?tag=a&tag=b&q=caf%C3%A9",
        content=b'{"title": "t"}',
        headers={"Content-Type": "application/json", "Authorization": "Bearer mvt_x",
                 "Host": "vault.local:8080", "Cookie": 'a=1; b="two words"'},
    )  # fmt: skip
    assert response.status_code == 200
    echoed = response.json()
    assert echoed["path"] == "/api/media/a%20b/x%2Fy?tag=a&tag=b&q=caf%C3%A9"
    assert echoed["body"] == '{"title": "t"}'
    headers = _echoed(response)
    assert headers["authorization"] == ["Bearer mvt_x"]
    assert headers["cookie"] == ['a=1; b="two words"']
    assert headers["content-type"] == ["application/json"]
    assert headers["x-forwarded-host"] == ["vault.local:8080"]
    assert headers["x-forwarded-for"] == ["127.0.0.1"]


def test_response_headers_pass_but_hop_by_hop_ones_do_not(gateway: str) -> None:
    response = httpx.get(gateway + "/api/auth/me")
    cookies = response.headers.get_list("Set-Cookie")
    assert len(cookies) == 2
    assert any(c.startswith("mv_session=abc;") and "HttpOnly" in c for c in cookies)
    assert "X-Hop" not in response.headers  # named in Connection: meant for one hop
    assert response.headers["Content-Type"] == "application/json"


def test_no_cookie_is_kept_between_requests(gateway: str) -> None:
    # Every answer sets cookies; a gateway with a cookie jar would send them on the next request.
    first = httpx.get(gateway + "/api/auth/me")
    assert first.headers.get_list("Set-Cookie")
    second = httpx.get(gateway + "/api/auth/me")
    assert "cookie" not in _echoed(second)


def test_the_request_body_is_forwarded_as_it_arrives(
    gateway: str, upstream: tuple[Upstream, str]
) -> None:
    app = upstream[0]
    app.first_part_arrived.clear()

    def body() -> Iterator[bytes]:
        yield b"hello"
        # A gateway that waited for the whole body would never let the upstream see the first part.
        yield b"world" if app.first_part_arrived.wait(WAIT_SECONDS) else b"buffered"

    response = httpx.post(
        gateway + "/api/media/slow-upload", content=body(), headers={"Content-Length": "10"}
    )
    assert response.text == "hello|world"


def test_a_chunked_request_body_arrives_whole(gateway: str) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"a": '
        yield b"1}"

    response = httpx.post(gateway + "/api/media/x", content=body())
    assert response.request.headers["Transfer-Encoding"] == "chunked"
    assert response.json()["body"] == '{"a": 1}'


def test_the_response_body_is_streamed(gateway: str, upstream: tuple[Upstream, str]) -> None:
    app = upstream[0]
    app.client_read_first_part.clear()
    with httpx.stream("GET", gateway + "/api/media/slow-download") as response:
        parts = response.iter_raw()
        received = next(parts)
        assert received.startswith(b"first part;")
        app.client_read_first_part.set()
        received += b"".join(parts)
    assert received == b"first part;second part"


@pytest.mark.parametrize(
    "header",
    [
        b"Authorization: Bearer \x01x",
        b"X-Thing: a\x7fb",
        b"Bad(Name: x",
        b"Host: two words",
        b"Host: caf\xc3\xa9.example",
        b"Host: a:1:2",
        b"Host: a.example\r\nHost: b.example",
    ],
    ids=["control-char", "delete-char", "bad-name", "host-space", "host-utf8", "host-ports",
         "two-hosts"],
)  # fmt: skip
def test_malformed_headers_get_a_json_400(gateway: str, header: bytes) -> None:
    host = b"" if header.startswith(b"Host:") else b"Host: 127.0.0.1\r\n"
    head = b"GET /api/media HTTP/1.1\r\n" + host + header + b"\r\nConnection: close\r\n\r\n"
    error = assert_json_error(raw_request(gateway, head), 400)
    assert error["code"] == "bad_request"


def test_an_unparseable_request_gets_a_json_4xx(gateway: str) -> None:
    response = raw_request(gateway, b"GET /api/media HTTP/9.9.9\r\n\r\n")
    assert_json_error(response)
    too_long = b"GET /api/media HTTP/1.1\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    assert_json_error(raw_request(gateway, too_long), 431)


@pytest.mark.parametrize("length", [b"abc", b"-1", b"\xb2", b"1 2"], ids=repr)
def test_a_malformed_content_length_is_a_json_400(gateway: str, length: bytes) -> None:
    head = b"POST /api/media HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: " + length
    assert_json_error(raw_request(gateway, head + b"\r\nConnection: close\r\n\r\n"), 400)


def test_content_length_and_chunked_together_are_refused(gateway: str) -> None:
    head = (
        b"POST /api/media HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    assert_json_error(raw_request(gateway, head, b"3\r\nabc\r\n0\r\n\r\n"), 400)


def test_the_gateway_answers_503_json_when_a_function_is_down() -> None:
    client = Client(Gateway({name: f"http://127.0.0.1:{free_port()}" for name in FUNCTIONS}))
    response = client.get("/api/media")
    assert response.status_code == 503
    assert response.json is not None
    assert response.json["error"]["code"] == "service_unavailable"


def test_a_path_no_function_serves_is_a_json_404() -> None:
    client = Client(Gateway({"media": f"http://127.0.0.1:{free_port()}"}))
    response = client.get("/api/authx")  # the web function would own it; it is not configured
    assert response.status_code == 404
    assert response.json is not None
    assert response.json["error"]["code"] == "not_found"
