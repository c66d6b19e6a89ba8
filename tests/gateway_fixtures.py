"""Helpers for the gateway tests: `mediavault gateway` as its own process, and raw HTTP."""

from __future__ import annotations

import http.client
import json
import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from mediavault.devstack.services import ServiceSpec
from tests.harness import ProcessGroup, free_port, poll

MEDIAVAULT = str(Path(sys.executable).parent / "mediavault")


def start_gateway(
    processes: ProcessGroup, upstreams: Mapping[str, str], port: int | None = None
) -> str:
    """Run `mediavault gateway` in front of the upstreams; its base URL once it answers."""
    port = port or free_port()
    upstream_flags = [f"--upstream={name}={url}" for name, url in upstreams.items()]
    argv = (MEDIAVAULT, "gateway", "--host=127.0.0.1", f"--port={port}", *upstream_flags)
    processes.start(ServiceSpec(f"gateway-{port}", argv), wait=False)
    url = f"http://127.0.0.1:{port}"
    poll(lambda: _listening(url), "the gateway to listen")
    return url


def gateway_environment() -> dict[str, str]:
    """A process environment with none of the developer's MediaVault settings."""
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8"}


def _listening(url: str) -> bool:
    try:
        httpx.get(url + "/api/auth/me", timeout=2.0)
    except httpx.HTTPError:
        return False
    return True


@dataclass(frozen=True)
class RawResponse:
    """What came back for a hand-written request."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def json(self) -> Any:
        """The body as JSON (fails the test when it is not)."""
        assert self.headers.get("Content-Type", "").startswith("application/json"), self.body
        return json.loads(self.body)


def raw_request(url: str, head: bytes, body: bytes = b"") -> RawResponse:
    """Send bytes exactly as written (no client tidies them up) and read the answer."""
    parts = urlsplit(url)
    assert parts.hostname
    assert parts.port
    with socket.create_connection((parts.hostname, parts.port), timeout=30) as sock:
        sock.sendall(head + body)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return RawResponse(response.status, response.headers, response.read())


def assert_json_error(response: RawResponse, status: int | None = None) -> dict[str, str]:
    """A 4xx in the API's error shape ({"error": {"code", "message"}}); the error."""
    assert 400 <= response.status < 500, (response.status, response.body)
    if status is not None:
        assert response.status == status, (response.status, response.body)
    error: dict[str, str] = response.json()["error"]
    assert isinstance(error["code"], str)
    assert error["code"]
    assert isinstance(error["message"], str)
    assert error["message"]
    return error
