"""A stand-in MediaVault server for the client: canned answers, hostile ones too, and what it saw.

It also serves as an HTTP proxy (requests with an absolute URL), so a test can point the client at
`http://vault.example.org` through HTTP_PROXY and see whether the token would have left.
"""

from __future__ import annotations

import json
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Seen:
    """One request the server received."""

    method: str
    host: str
    path: str
    authorization: str | None


@dataclass
class FakeVault:
    """Routes (a path, without its query) to a status, a body and its type."""

    url: str = ""
    routes: dict[str, tuple[int, bytes, str]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def json(self, path: str, body: object, status: int = 200) -> None:
        """Answer GETs of `path` with this JSON."""
        self.routes[path] = (status, json.dumps(body).encode(), "application/json")

    def raw(self, path: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        """Answer GETs of `path` with these bytes."""
        self.routes[path] = (200, data, content_type)


def _handler(vault: FakeVault) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = urlsplit(self.path)  # absolute when the client uses this server as its proxy
            host = parts.netloc or self.headers.get("Host", "")
            vault.seen.append(Seen("GET", host, parts.path, self.headers.get("Authorization")))
            status, body, content_type = vault.routes.get(
                parts.path, (404, b'{"error": {"code": "not_found", "message": "no"}}',
                             "application/json"),
            )  # fmt: skip
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def fake_vault() -> Iterator[FakeVault]:
    """A FakeVault listening on a free loopback port until the block ends."""
    vault = FakeVault()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(vault))
    vault.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield vault
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def client_command(*args: str) -> list[str]:
    """`mediavault ARGS`, the console script installed beside this interpreter."""
    return [str(Path(sys.executable).parent / "mediavault"), *args]


def client_env(home: Path, **extra: str) -> dict[str, str]:
    """A user's environment with a home of their own and nothing of the developer's."""
    return {"HOME": str(home), "PATH": "/usr/bin:/bin", "LANG": "C.UTF-8", **extra}
