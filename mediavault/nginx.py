"""nginx's configuration for the route table: the gateway of docker/compose.yaml."""

# Route.matches takes a prefix and everything below it, and the longest prefix wins; nginx's
# prefix locations pick the longest match too, so each route becomes an exact location (the prefix
# itself) and a prefix location (below it: the prefix and a slash); `/` is one prefix location.
# Paths are relative to nginx's prefix (`-p`), so the same file runs as any user, and `nginx -t`
# checks it anywhere.

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass

from mediavault.routes import FUNCTIONS, ROUTES

GENERATED_BY = "scripts/render_nginx_conf.py"

# The answers nginx gives itself, in the API's error shape: (status, code, message).
ERRORS: dict[str, tuple[int, str, str]] = {
    "bad_request": (400, "bad_request", "malformed request"),
    "timeout": (408, "request_timeout", "the request was not received in time"),
    "uri_too_long": (414, "uri_too_long", "the request target is too long"),
    "headers_too_large": (431, "request_header_fields_too_large", "the headers are too large"),
    "internal": (500, "internal", "the gateway failed"),
    "unavailable": (503, "service_unavailable", "the function is unreachable"),
}
# nginx's status codes for its own errors → the named location answering each.
ERROR_PAGES: tuple[tuple[tuple[int, ...], str], ...] = (
    ((400,), "bad_request"),
    ((408,), "timeout"),
    ((414,), "uri_too_long"),
    ((494,), "headers_too_large"),  # nginx's own code for oversized headers
    ((500,), "internal"),
    ((502, 503, 504), "unavailable"),
)


@dataclass(frozen=True)
class NginxGateway:
    """Where the gateway listens and where each function answers (host:port)."""

    listen: str
    upstreams: Mapping[str, str]
    # Resolve upstream names at request time (Docker's DNS: 127.0.0.11), so that a function
    # container that restarts with a new address is found again; None for IP addresses.
    resolver: str | None = None

    def __post_init__(self) -> None:
        missing = set(FUNCTIONS) - set(self.upstreams)
        if missing:
            raise ValueError(f"no upstream for {', '.join(sorted(missing))}")


def render(gateway: NginxGateway) -> str:
    """The whole nginx.conf."""
    resolver = [f"    resolver {gateway.resolver} valid=10s ipv6=off;"] if gateway.resolver else []
    lines = [
        f"# Generated from mediavault/routes.py by {GENERATED_BY}: do not edit by hand (a test",
        "# fails when it is stale). Run as: nginx -p <writable dir> -c <this file> -e stderr",
        "daemon off;",
        "worker_processes 1;",
        "pid nginx.pid;",
        "error_log stderr warn;",
        "",
        "events {",
        "    worker_connections 1024;",
        "}",
        "",
        "http {",
        "    # Paths carry share tokens: the functions log route patterns instead.",
        "    access_log off;",
        "    server_tokens off;",
        "    client_body_temp_path client_body;",
        "    proxy_temp_path proxy;",
        "    fastcgi_temp_path fastcgi;",
        "    uwsgi_temp_path uwsgi;",
        "    scgi_temp_path scgi;",
        *resolver,
        "    # The functions refuse bodies above their limits (MAX_JSON_BYTES) unread.",
        "    client_max_body_size 0;",
        '    # "//api/x" is not below /api for the route table either.',
        "    merge_slashes off;",
        "    # Streamed both ways; nothing is kept between requests (no cookie, no cache).",
        "    proxy_http_version 1.1;",
        "    proxy_request_buffering off;",
        "    proxy_buffering off;",
        "    proxy_read_timeout 300s;",
        '    proxy_set_header Connection "";',
        "    proxy_set_header X-Forwarded-Host $http_host;",
        "    proxy_set_header X-Forwarded-Proto $scheme;",
        "    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;",
        "",
        "    server {",
        f"        listen {gateway.listen};",
        *[
            f"        error_page {' '.join(map(str, codes))} = @{name};"
            for codes, name in ERROR_PAGES
        ],
        "",
        *_locations(gateway),
        *_error_locations(),
        "    }",
        "}",
    ]
    return "\n".join(lines) + "\n"


def _locations(gateway: NginxGateway) -> list[str]:
    lines = []
    for route in sorted(ROUTES, key=lambda r: r.prefix):
        upstream = gateway.upstreams[route.function]
        body = f"{{ set $upstream {upstream}; proxy_pass http://$upstream; }}"
        if route.prefix == "/":
            lines.append(f"        location / {body}")
        else:
            lines.append(f"        location = {route.prefix} {body}")
            lines.append(f"        location {route.prefix}/ {body}")
    return lines


def _error_locations() -> list[str]:
    lines = []
    for name, (status, code, message) in ERRORS.items():
        body = json.dumps({"error": {"code": code, "message": message}})
        lines += [
            "",
            f"        location @{name} {{",
            "            default_type application/json;",
            f"            return {status} '{body}';",
            "        }",
        ]
    return lines
