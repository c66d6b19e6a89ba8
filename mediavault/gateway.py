"""The local gateway: one port, path routing to each function process, from the route table."""

# It keeps no state between requests: no cookie jar (requests go through an httpx transport,
# never a client), bodies streamed both ways, and every request it cannot forward answered in the
# JSON error shape (400 for a malformed header or Host, 404 for a path no function serves, 503 for
# a function that does not answer).

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterable, Iterator, Mapping
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from werkzeug.serving import WSGIRequestHandler

from mediavault.errors import BadRequest, HTTPError, NotFound, ServiceUnavailable
from mediavault.routes import function_for, route_for

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

    import httpx

logger = logging.getLogger(__name__)

# RFC 9110 §7.6.1: connection-specific headers are not forwarded by a proxy.
HOP_BY_HOP = frozenset(
    {
        "connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "proxy-connection",
        "te", "trailer", "transfer-encoding", "upgrade",
    }
)  # fmt: skip
# Written by the transport for the upstream (host, length), or already answered here (expect).
NOT_FORWARDED = HOP_BY_HOP | {"host", "content-length", "expect"}
# Written by the gateway from what it saw (X-Forwarded-For extends the client's chain).
FORWARDING = frozenset({"x-forwarded-host", "x-forwarded-proto", "x-forwarded-for"})
# The serving gateway writes these itself; forwarding the function's would duplicate them.
SET_BY_GATEWAY = frozenset({"server", "date"})

# A function has this long to answer (Knative's request timeout); connecting is quick or never.
TIMEOUT = {"connect": 2.0, "read": 300.0, "write": 60.0, "pool": 5.0}
CHUNK_BYTES = 64 * 1024

# RFC 9110 §5.1 token (field names); §5.5 field values: visible ASCII, obs-text, inner SP/HTAB.
_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_FIELD_VALUE = re.compile(rb"[\x21-\x7e\x80-\xff]([\x20-\x7e\x80-\xff\t]*[\x21-\x7e\x80-\xff])?")
# RFC 9110 §7.2 Host: uri-host [":" port], where uri-host is an IP literal, IPv4 or reg-name.
_HOST = re.compile(
    r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%]+)(:[0-9]{0,5})?", re.ASCII
)  # reg-name without sub-delims: two Host headers joined by a comma are refused


class Gateway:
    """A WSGI app forwarding each request to the function its path belongs to."""

    def __init__(
        self, upstreams: Mapping[str, str], transport: httpx.BaseTransport | None = None
    ) -> None:
        import httpx

        self.upstreams = {name: url.rstrip("/") for name, url in upstreams.items()}
        # A transport, not a client: a client would keep the cookies of every answer it relays.
        # A new connection per request (loopback: cheap): gunicorn closes idle ones after two
        # seconds, and a request sent on one just as it closes would fail with nothing to retry.
        self.transport = transport or httpx.HTTPTransport(
            limits=httpx.Limits(max_keepalive_connections=0)
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """Proxy one request; whatever goes wrong before the answer starts is a JSON error."""
        try:
            return self._forward(environ, start_response)
        except HTTPError as error:
            return _error(start_response, error)
        except Exception:
            logger.exception("the gateway failed to forward a request")
            return _error(start_response, HTTPError("the gateway failed"))

    def _forward(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        import httpx

        path = environ.get("PATH_INFO", "") or "/"
        function = function_for(path)
        if function is None or function not in self.upstreams:
            raise NotFound(f"no function serves {path}")
        content, length = _request_body(environ)
        headers = _request_headers(environ)
        if length is not None:
            headers.append((b"content-length", str(length).encode()))
        request = httpx.Request(
            environ["REQUEST_METHOD"],
            self.upstreams[function] + _target(environ),
            headers=headers,
            content=content,
            extensions={"timeout": TIMEOUT},
        )
        try:
            response = self.transport.handle_request(request)
        except httpx.LocalProtocolError as error:
            raise BadRequest(f"the request cannot be forwarded: {error}") from None
        except httpx.TransportError as error:
            logger.warning("function %s unreachable: %s", function, type(error).__name__)
            raise ServiceUnavailable(f"function {function} unreachable") from None
        start_response(_status_line(response), _response_headers(response))
        return _stream(response)


def _request_headers(environ: WSGIEnvironment) -> list[tuple[bytes, bytes]]:
    """The client's headers as the bytes it sent, minus hop-by-hop ones; BadRequest if malformed."""
    received = [
        (key[5:].replace("_", "-").lower(), value)
        for key, value in environ.items()
        if key.startswith("HTTP_")
    ]
    if environ.get("CONTENT_TYPE"):
        received.append(("content-type", environ["CONTENT_TYPE"]))
    connection_options = _connection_options(environ.get("HTTP_CONNECTION", ""))
    headers = []
    for name, value in received:
        if name in NOT_FORWARDED or name in FORWARDING or name in connection_options:
            continue
        # PEP 3333: the server decoded the header's bytes as latin-1; send those same bytes.
        raw_name, raw_value = name.encode("latin-1"), _field_value(name, value)
        if not _TOKEN.fullmatch(raw_name):
            raise BadRequest("malformed header name")
        headers.append((raw_name, raw_value))
    host = environ.get("HTTP_HOST", "").strip(" \t")
    if host:  # RFC 9112 §3.2: empty when the target has no authority
        if not _HOST.fullmatch(host):
            raise BadRequest("malformed Host header")
        # Functions build absolute URLs from what the browser asked for, not from the upstream.
        headers.append((b"x-forwarded-host", host.encode("ascii")))
    headers.append((b"x-forwarded-proto", environ.get("wsgi.url_scheme", "http").encode()))
    forwarded_for = environ.get("HTTP_X_FORWARDED_FOR", "").strip(" \t")
    client = environ.get("REMOTE_ADDR", "")
    if client:
        chain = f"{forwarded_for}, {client}" if forwarded_for else client
        headers.append((b"x-forwarded-for", _field_value("x-forwarded-for", chain)))
    return headers


def _field_value(name: str, value: str) -> bytes:
    """A header value as sent, without the whitespace around it (RFC 9110 §5.5); checked."""
    try:
        raw = value.encode("latin-1").strip(b" \t")
    except UnicodeEncodeError:
        raise BadRequest(f"malformed {name} header") from None
    if raw and not _FIELD_VALUE.fullmatch(raw):
        raise BadRequest(f"malformed {name} header")
    return raw


def _connection_options(connection: str) -> frozenset[str]:
    """Headers the client named in Connection: meant for this hop only (RFC 9110 §7.6.1)."""
    return frozenset(option.strip(" \t").lower() for option in connection.split(","))


def _target(environ: WSGIEnvironment) -> str:
    """The request target exactly as the client sent it (path and query)."""
    from urllib.parse import quote

    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
    if raw.startswith("/"):
        return str(raw)
    # PEP 3333: PATH_INFO holds the request's bytes decoded as latin-1; re-encode them as sent.
    path = quote((environ.get("PATH_INFO", "") or "/").encode("latin-1"), safe="/:@!$&'()*+,;=-._~")
    query = environ.get("QUERY_STRING", "")
    return f"{path}?{query}" if query else path


def _request_body(environ: WSGIEnvironment) -> tuple[Iterator[bytes] | None, int | None]:
    """The body as a stream read as it is forwarded, and its length when the client gave one."""
    stream = environ["wsgi.input"]
    length = (environ.get("CONTENT_LENGTH") or "").strip()
    if length and environ.get("wsgi.input_terminated"):
        raise BadRequest("both Content-Length and Transfer-Encoding: chunked")
    if length:
        if not (length.isascii() and length.isdigit()):
            raise BadRequest("malformed Content-Length header")
        size = int(length)
        return (_read(stream, size) if size else None), size
    if environ.get("wsgi.input_terminated"):
        return _read(stream, None), None  # chunked: forwarded chunked, as it arrives
    return None, None


def _read(stream: Any, size: int | None) -> Iterator[bytes]:
    """Forward what has arrived (read1: whatever is buffered, or one read of the socket)."""
    read = getattr(stream, "read1", stream.read)
    remaining = size
    while remaining is None or remaining > 0:
        chunk = read(CHUNK_BYTES if remaining is None else min(CHUNK_BYTES, remaining))
        if not chunk:
            return
        if remaining is not None:
            remaining -= len(chunk)
        yield chunk


def _status_line(response: httpx.Response) -> str:
    try:
        phrase = response.reason_phrase or HTTPStatus(response.status_code).phrase
    except ValueError:
        phrase = "Unknown"
    return f"{response.status_code} {phrase}"


def _response_headers(response: httpx.Response) -> list[tuple[str, str]]:
    """The function's headers unchanged (each Set-Cookie on its own), minus hop-by-hop ones."""
    raw = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in response.headers.raw]
    options = _connection_options(response.headers.get("connection", ""))
    chunked = any(name == "transfer-encoding" for name, _ in raw)
    return [
        (name, value)
        for name, value in raw
        if name not in HOP_BY_HOP
        and name not in options
        and name not in SET_BY_GATEWAY
        and not (chunked and name == "content-length")
    ]


def _stream(response: httpx.Response) -> Iterator[bytes]:
    try:
        yield from response.iter_raw()  # each piece as it arrives, not CHUNK_BYTES at a time
    finally:
        response.close()


def _error(start_response: StartResponse, error: HTTPError) -> list[bytes]:
    body = json.dumps(error.to_dict()).encode()
    start_response(
        f"{error.status} {HTTPStatus(error.status).phrase}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]


class RequestHandler(WSGIRequestHandler):
    """Werkzeug's handler with JSON errors for unparseable requests and token-free log lines."""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Requests refused before they reach the app (bad request line, oversized headers)."""
        try:
            status = HTTPStatus(code)
        except ValueError:
            status = HTTPStatus.BAD_REQUEST
        body = json.dumps(
            {"error": {"code": status.phrase.lower().replace(" ", "_"), "message": status.phrase}}
        ).encode()
        self.log_error("refused an unparseable request: %d", code)
        # An unparseable version leaves HTTP/0.9, which has no status line: answer in HTTP/1.0.
        if self.request_version == "HTTP/0.9":
            self.request_version = "HTTP/1.0"
        self.send_response(status.value, status.phrase)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        if getattr(self, "command", None) != "HEAD":
            self.wfile.write(body)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """One line per request with its route prefix, never the path (it may hold a token)."""
        path = getattr(self, "path", "") or ""
        route = route_for(path.split("?", 1)[0])
        prefix = route.prefix if route else "-"
        status = int(code) if str(code).isdigit() else None
        logger.info(
            "%s %s %s",
            getattr(self, "command", "-"),
            prefix,
            code,
            extra={"route": prefix, "status": status, "function": route and route.function},
        )

    def log_error(self, format: str, *args: Any) -> None:
        """http.server's own complaints, which would quote the raw request line: kept short."""
        if format.startswith("code %d, message"):
            return  # send_error logs its own line without the request's text
        logger.warning(format, *args)


def serve(host: str, port: int, upstreams: Mapping[str, str]) -> None:
    """Serve the gateway (threaded werkzeug server: local development only)."""
    from werkzeug.serving import make_server

    server = make_server(
        host, port, Gateway(upstreams), threaded=True, request_handler=RequestHandler
    )
    logger.info("the gateway listens on http://%s:%d", host, server.server_port)
    try:
        server.serve_forever()
    finally:
        server.server_close()
