"""docker/compose.yaml's gateway: nginx configured from the route table, run for real."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote

import httpx
import pytest
import yaml
from werkzeug.serving import BaseWSGIServer, make_server
from werkzeug.wrappers import Request, Response

from mediavault.devstack.layout import default_tools_dir
from mediavault.devstack.services import ServiceSpec
from mediavault.nginx import NginxGateway, render
from mediavault.routes import FUNCTIONS, ROUTES, function_for
from scripts.render_nginx_conf import CONF, rendered
from tests.gateway_fixtures import assert_json_error, raw_request
from tests.harness import ProcessGroup, free_port, make_shared_dir, poll

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

ROOT = Path(__file__).resolve().parent.parent

# Every prefix, what lies below it, what only looks like it, and what belongs to the web app.
PATHS = [
    *(route.prefix for route in ROUTES),
    *(route.prefix.rstrip("/") + "/" for route in ROUTES),
    *(route.prefix.rstrip("/") + "/x/y" for route in ROUTES),
    *(route.prefix + "x" for route in ROUTES if route.prefix != "/"),
    "/api", "/api/", "/api/unknown", "/API/auth", "//api/auth", "/index.html", "/_app/x.js",
    "/s", "/sx", "/s/tok?x=1", "/api/auth%2Fme", "/api/media/a%20b", "/api/tags?q=/api/auth",
]  # fmt: skip


def nginx_binary() -> Path:
    """Debian's nginx as scripts/install.sh unpacks it (or a system one)."""
    for candidate in (default_tools_dir(os.environ) / "nginx" / "usr" / "sbin" / "nginx",
                      Path("/usr/sbin/nginx")):  # fmt: skip
        if candidate.exists():
            return candidate
    pytest.fail("nginx is missing: run `make install-test-tools` (make test does)")


def _echo(name: str) -> object:
    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        body = {
            "function": name,
            "target": environ.get("RAW_URI"),
            "body": request.get_data(as_text=True),
            "headers": {k.lower(): v for k, v in request.headers.items()},
        }
        response = Response(json.dumps(body), mimetype="application/json")
        response.set_cookie("mv_session", f"from-{name}")
        return response(environ, start_response)

    return app


def _start_nginx(processes: ProcessGroup, upstreams: dict[str, str], prefix: Path) -> str:
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(render(NginxGateway(listen=f"127.0.0.1:{port}", upstreams=upstreams)))
    argv = (str(nginx_binary()), "-p", f"{prefix}/", "-c", str(conf), "-e", "stderr")
    processes.start(ServiceSpec(f"nginx-{port}", argv), wait=False)
    url = f"http://127.0.0.1:{port}"
    poll(lambda: _listening(url), "nginx to listen")
    return url


def _listening(url: str) -> bool:
    try:
        httpx.get(url + "/", timeout=2.0)
    except httpx.HTTPError:
        return False
    return True


@pytest.fixture(scope="module")
def nginx() -> Iterator[str]:
    """nginx in front of one echoing server per function, as the config renders for compose."""
    servers: list[BaseWSGIServer] = []
    threads = []
    prefix = make_shared_dir("mediavault-nginx-")
    processes = ProcessGroup(prefix, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    try:
        upstreams = {}
        for name in FUNCTIONS:
            server = make_server("127.0.0.1", 0, _echo(name), threaded=True)  # type: ignore[arg-type]
            thread = threading.Thread(target=server.serve_forever, daemon=True)
            thread.start()
            servers.append(server)
            threads.append(thread)
            upstreams[name] = f"127.0.0.1:{server.server_port}"
        yield _start_nginx(processes, upstreams, prefix)
    finally:
        processes.stop_all()
        for server in servers:
            server.shutdown()
        for thread in threads:
            thread.join(10)
        shutil.rmtree(prefix, ignore_errors=True)


def test_the_committed_config_is_the_route_tables() -> None:
    assert CONF.read_text() == rendered(), "run scripts/render_nginx_conf.py"


def test_nginx_accepts_the_committed_config(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(nginx_binary()), "-t", "-p", f"{tmp_path}/", "-c", str(CONF), "-e", "stderr"],
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert "test is successful" in result.stderr


def test_every_function_needs_an_upstream() -> None:
    with pytest.raises(ValueError, match="no upstream for"):
        NginxGateway(listen="8080", upstreams={"web": "fn-web:8080"})


def test_compose_runs_nginx_with_the_committed_config() -> None:
    compose = yaml.safe_load((ROOT / "docker" / "compose.yaml").read_text())
    gateway = compose["services"]["gateway"]
    assert gateway["image"].startswith("nginx:")
    assert "./nginx.conf:/etc/mediavault/nginx.conf:ro" in gateway["volumes"]
    # The committed config, its resolver swapped for the one /etc/resolv.conf names (Docker's
    # 127.0.0.11, podman's network gateway): tests/test_compose.py runs it under podman.
    [script] = gateway["command"]
    assert gateway["entrypoint"] == ["/bin/sh", "-c"]
    assert "/etc/mediavault/nginx.conf > /tmp/nginx.conf" in script
    assert script.endswith("exec nginx -p /tmp/ -c /tmp/nginx.conf -e stderr")
    assert 'sed "s/resolver 127.0.0.11 /resolver ' in script
    assert "    resolver 127.0.0.11 valid=10s" in CONF.read_text()
    for name in FUNCTIONS:
        assert f"set $upstream fn-{name}:8080;" in CONF.read_text()
        assert compose["services"][f"fn-{name}"]["environment"]["FUNCTION_TARGET"] == name


@pytest.mark.parametrize("path", PATHS)
def test_nginx_routes_each_path_as_the_route_table_does(nginx: str, path: str) -> None:
    response = httpx.get(nginx + path)
    assert response.status_code == 200, response.text
    echoed = response.json()
    assert echoed["function"] == function_for(unquote(path.split("?", 1)[0]))
    # Forwarded exactly as sent (Python's http.server itself folds leading slashes into one).
    assert echoed["target"] == "/" + path.lstrip("/")


def test_cookies_pass_untouched_and_none_is_kept(nginx: str) -> None:
    first = httpx.get(nginx + "/api/auth/me", headers={"Cookie": 'a=1; b="two words"'})
    assert first.json()["headers"]["cookie"] == 'a=1; b="two words"'
    assert first.headers["Set-Cookie"].startswith("mv_session=from-auth")
    second = httpx.get(nginx + "/api/auth/me")
    assert "cookie" not in second.json()["headers"]


def test_forwarded_headers_name_what_the_client_asked_for(nginx: str) -> None:
    response = httpx.post(
        nginx + "/api/media", content=b'{"a": 1}', headers={"Host": "vault.local:8080"}
    )
    echoed = response.json()
    assert echoed["body"] == '{"a": 1}'
    assert echoed["headers"]["x-forwarded-host"] == "vault.local:8080"
    assert echoed["headers"]["x-forwarded-proto"] == "http"


def test_a_chunked_request_body_arrives_whole(nginx: str) -> None:
    def body() -> Iterator[bytes]:
        yield b'{"a": '
        yield b"1}"

    assert httpx.post(nginx + "/api/media/x", content=body()).json()["body"] == '{"a": 1}'


@pytest.mark.parametrize("host", [b"two words", b"a/b", b"caf\xc3\xa9..example"], ids=repr)
def test_a_bad_host_is_a_json_400(nginx: str, host: bytes) -> None:
    head = b"GET /api/auth/me HTTP/1.1\r\nHost: " + host + b"\r\nConnection: close\r\n\r\n"
    assert_json_error(raw_request(nginx, head), 400)


def test_a_malformed_request_and_oversized_headers_are_json(nginx: str) -> None:
    assert_json_error(raw_request(nginx, b"GET /api/media HTTP/1.1\r\n\r\n"), 400)  # no Host
    big = b"GET /api/media HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 70_000 + b"\r\n\r\n"
    assert_json_error(raw_request(nginx, big), 431)


def test_a_function_that_is_down_is_a_json_503() -> None:
    prefix = make_shared_dir("mediavault-nginx-")
    processes = ProcessGroup(prefix, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    try:
        url = _start_nginx(
            processes, {name: f"127.0.0.1:{free_port()}" for name in FUNCTIONS}, prefix
        )
        response = httpx.get(url + "/api/media")
        assert response.status_code == 503
        assert response.json()["error"]["code"] == "service_unavailable"
    finally:
        processes.stop_all()
        shutil.rmtree(prefix, ignore_errors=True)
