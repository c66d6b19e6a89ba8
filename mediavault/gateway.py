"""The local gateway: one port, path routing to each function process, from the route table."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING

from mediavault.errors import HTTPError, NotFound, ServiceUnavailable
from mediavault.routes import function_for

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    import httpx

logger = logging.getLogger(__name__)

# RFC 9110 §7.6.1: connection-specific headers are not forwarded by a proxy.
HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te",
        "trailer", "transfer-encoding", "upgrade", "host", "content-length",
    }
)  # fmt: skip


# The serving gateway writes these itself; forwarding the function's would duplicate them.
SET_BY_GATEWAY = frozenset({"server", "date"})


class Gateway:
    """A WSGI app forwarding each request to the function its path belongs to."""

    def __init__(self, upstreams: Mapping[str, str], client: httpx.Client | None = None) -> None:
        import httpx

        self.upstreams = {name: url.rstrip("/") for name, url in upstreams.items()}
        self.client = client or httpx.Client(timeout=httpx.Timeout(60.0, connect=2.0))

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Proxy one request."""
        import httpx

        path = environ.get("PATH_INFO", "") or "/"
        function = function_for(path)
        try:
            if function is None or function not in self.upstreams:
                raise NotFound(f"no function serves {path}")
            upstream = self.client.build_request(
                environ["REQUEST_METHOD"],
                self.upstreams[function] + _raw_path(environ),
                headers=list(_request_headers(environ)),
                content=_request_body(environ),
            )
            response = self.client.send(upstream, stream=True)
        except HTTPError as error:
            return _error(start_response, error)
        except httpx.HTTPError as error:
            logger.warning("upstream %s unreachable: %s", function, error)
            return _error(start_response, ServiceUnavailable(f"function {function} unreachable"))
        headers = [
            (k, v)
            for k, v in response.headers.multi_items()
            if k.lower() not in HOP_BY_HOP and k.lower() not in SET_BY_GATEWAY
        ]
        start_response(f"{response.status_code} {response.reason_phrase}", headers)
        return _stream(response)


def _raw_path(environ: WSGIEnvironment) -> str:
    from urllib.parse import quote

    # PEP 3333: PATH_INFO holds the request's bytes decoded as latin-1; re-encode them as sent.
    raw = (environ.get("PATH_INFO", "") or "/").encode("latin-1")
    path = quote(raw, safe="/:@!$&'()*+,;=-._~")
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def _request_headers(environ: WSGIEnvironment) -> Iterator[tuple[str, str]]:
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            name = key[5:].replace("_", "-").lower()
            if name not in HOP_BY_HOP:
                yield name, value
    if environ.get("CONTENT_TYPE"):
        yield "content-type", environ["CONTENT_TYPE"]
    host = environ.get("HTTP_HOST")
    if host:
        # Functions build absolute URLs from what the browser asked for, not from the upstream.
        yield "x-forwarded-host", host
    yield "x-forwarded-proto", environ.get("wsgi.url_scheme", "http")


def _request_body(environ: WSGIEnvironment) -> bytes:
    length = environ.get("CONTENT_LENGTH") or "0"
    size = int(length) if length.isdigit() else 0
    return environ["wsgi.input"].read(size) if size else b""


def _stream(response: httpx.Response) -> Iterator[bytes]:
    try:
        yield from response.iter_raw()
    finally:
        response.close()


def _error(start_response: StartResponse, error: HTTPError) -> list[bytes]:
    import json
    from http import HTTPStatus

    body = json.dumps(error.to_dict()).encode()
    start_response(
        f"{error.status} {HTTPStatus(error.status).phrase}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


def serve(host: str, port: int, upstreams: Mapping[str, str]) -> None:
    """Serve the gateway (threaded werkzeug server: local development only)."""
    from werkzeug.serving import run_simple

    run_simple(host, port, Gateway(upstreams), threaded=True, use_reloader=False)
