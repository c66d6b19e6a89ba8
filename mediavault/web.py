"""The HTTP side shared by every function: routing, JSON, errors, auth, health and metrics."""

from __future__ import annotations

import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING, TypeVar, overload

from werkzeug.exceptions import MethodNotAllowed as RoutingMethodNotAllowed
from werkzeug.exceptions import NotFound as RoutingNotFound
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from mediavault.db import accepting_connections, is_outage
from mediavault.errors import (
    Forbidden,
    HTTPError,
    MediaVaultError,
    MethodNotAllowed,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    StorageError,
    UnsupportedMediaType,
)
from mediavault.logs import correlation_id
from mediavault.metrics import HttpMetrics
from mediavault.storage import Storage
from mediavault.warmup import Warmup

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry

    from mediavault.config import Settings
    from mediavault.schemas import Request as RequestBody
    from mediavault.services import LazyServices, Services
    from mediavault.users import User

logger = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")
JSON_TYPE = "application/json"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})

Body = TypeVar("Body", bound="RequestBody")


@dataclass
class RequestContext:
    """One request with the function's services; handlers get this and the URL's arguments."""

    request: Request
    settings: Settings
    lazy_services: LazyServices
    request_id: str

    @property
    def services(self) -> Services:
        """The function's services, made by the first request that needs them."""
        return self.lazy_services.get()

    def user(self) -> User:
        """The authenticated user, or Unauthorized."""
        from mediavault.auth import authenticate

        cookie_name = self.settings.auth.session_cookie_name
        return authenticate(
            self.services.pool,
            self.request.headers.get("Authorization"),
            self.request.cookies.get(cookie_name),
        )

    def body_bytes(self) -> bytes:
        """The request body, read only up to MAX_JSON_BYTES (PayloadTooLarge beyond)."""
        try:
            return self.request.get_data(cache=True)
        except RequestEntityTooLarge:
            limit = self.settings.max_json_bytes
            raise PayloadTooLarge(f"request bodies may be at most {limit} bytes") from None

    @overload
    def body(self, shape: type[Body]) -> Body: ...

    @overload
    def body(self, shape: type[Body], *, optional: bool) -> Body | None: ...

    def body(self, shape: type[Body], *, optional: bool = False) -> Body | None:
        """The JSON body as its declaration in mediavault.schemas (None if empty and optional)."""
        # 415 unless application/json: another site's HTML form can send text/plain without a
        # preflight, never JSON. decode() answers 400 naming the field that is wrong.
        from mediavault.schemas import decode

        raw = self.body_bytes()
        if optional and not raw.strip():
            return None
        if self.request.mimetype != JSON_TYPE:
            raise UnsupportedMediaType(
                "request bodies must be sent as Content-Type: application/json",
                code="json_required",
            )
        return decode(raw, shape)


Handler = Callable[..., Response]
EndpointsFactory = Callable[["CollectorRegistry"], Iterable["Endpoint"]]


@dataclass(frozen=True)
class Endpoint:
    """A route of a function: werkzeug rule pattern, methods, handler."""

    pattern: str
    methods: tuple[str, ...]
    handler: Handler


def json_response(
    payload: object, status: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    """A JSON response."""
    return Response(
        json.dumps(payload, default=_json_default, separators=(",", ":")),
        status=status,
        mimetype=JSON_TYPE,
        headers=dict(headers or {}),
    )


def _json_default(value: object) -> str:
    """RFC 3339 for times (what OpenAPI's date-time means); text for UUIDs and the like."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def error_response(error: HTTPError, extra: Mapping[str, object] | None = None) -> Response:
    """The JSON error shape of DESIGN.md (with Retry-After when the error knows it)."""
    return json_response(
        {**error.to_dict(), **(extra or {})}, status=error.status, headers=error.headers
    )


def set_cookie(
    response: Response,
    settings: Settings,
    name: str,
    value: str,
    *,
    max_age: int,
    path: str = "/",
) -> None:
    """An HttpOnly, SameSite=Lax cookie, Secure whenever the API is served over https."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        domain=settings.auth.session_cookie_domain or None,
        secure=settings.api_base_url.startswith("https://"),
        httponly=True,
        samesite="Lax",
    )


def clear_cookie(response: Response, settings: Settings, name: str, path: str = "/") -> None:
    """Tell the browser to drop a cookie set by set_cookie."""
    set_cookie(response, settings, name, "", max_age=0, path=path)


def _origin(url: str) -> str:
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


CORS_METHODS = "GET, POST, PUT, PATCH, DELETE"
CORS_HEADERS = "Authorization, Content-Type, X-Request-Id"


class FunctionApp:
    """A functions-framework target: dispatches to endpoints and adds /healthz and /metrics."""

    def __init__(
        self,
        name: str,
        settings: Settings,
        services: LazyServices,
        endpoints: EndpointsFactory | None = None,
        warmup: Warmup | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.services = services
        # Handlers' lazy imports, made by one thread before any handler runs (mediavault.warmup).
        self.warmup = warmup if warmup is not None else Warmup(())
        self.metrics = HttpMetrics(name)
        self.cors_origin = _origin(settings.frontend_url)
        # The pages that may send cookie-authenticated writes: the web app's and the API's own.
        self.own_origins = frozenset({self.cors_origin, _origin(settings.api_base_url)})
        builtin = [
            Endpoint("/healthz", ("GET",), self._healthz),
            Endpoint("/metrics", ("GET",), self._metrics),
        ]
        self._builtin_count = len(builtin)
        own = list(endpoints(self.metrics.registry)) if endpoints is not None else []
        # One rule per endpoint, keyed by position: a pattern may have a handler per method.
        self._endpoints = [*builtin, *own]
        rules = [
            Rule(endpoint.pattern, endpoint=index, methods=endpoint.methods)
            for index, endpoint in enumerate(self._endpoints)
        ]
        self._url_map = Map(rules, strict_slashes=False, merge_slashes=False)

    def __call__(self, request: Request) -> Response:
        """Answer one request; never lets an exception escape as a traceback."""
        started = time.perf_counter()
        request_id = request_id_from(request.headers.get("X-Request-Id"))
        token = correlation_id.set(request_id)
        origin = request.headers.get("Origin")
        try:
            if request.method == "OPTIONS" and "Access-Control-Request-Method" in request.headers:
                route, response = "preflight", self._preflight(origin)
            else:
                route, response = self._dispatch(request, request_id)
            response.headers["X-Request-Id"] = request_id
            response.headers["X-MediaVault-Function"] = self.name
            if origin is not None and origin == self.cors_origin:
                response.headers["Access-Control-Allow-Origin"] = origin
                response.headers["Access-Control-Allow-Credentials"] = "true"
                response.headers["Access-Control-Expose-Headers"] = "X-Request-Id"
            response.vary.add("Origin")
            record_request(self.metrics, request.method, route, response, started)
            # The first request of any kind (a readiness probe, most often) starts the imports,
            # once it has its answer: in the server's worker process (never in one about to
            # fork), and not competing with that first answer.
            self.warmup.start()
            return response
        finally:
            correlation_id.reset(token)

    def _dispatch(self, request: Request, request_id: str) -> tuple[str, Response]:
        """The matched route pattern and the handler's response (errors become JSON)."""
        route = "unmatched"
        # Bodies are read through a stream that stops at the limit: a huge body is refused
        # without ever being held in memory, whatever its Content-Length says.
        request.max_content_length = self.settings.max_json_bytes
        try:
            if (request.content_length or 0) > self.settings.max_json_bytes:
                raise PayloadTooLarge(
                    f"request bodies may be at most {self.settings.max_json_bytes} bytes"
                )
            adapter = self._url_map.bind_to_environ(request.environ)
            index, arguments = adapter.match()
            endpoint = self._endpoints[index]
            route = endpoint.pattern
            self._refuse_cross_site(request)
            context = RequestContext(request, self.settings, self.services, request_id)
            if index < self._builtin_count:  # /healthz and /metrics import nothing
                return route, endpoint.handler(context, **arguments)
            with self.warmup.turn():
                return route, endpoint.handler(context, **arguments)
        except Exception as error:  # every failure becomes JSON, never a traceback
            return route, self._failure(request, route, error)

    def _failure(self, request: Request, route: str, error: Exception) -> Response:
        """The JSON response for an exception raised while answering."""
        if isinstance(error, RoutingNotFound):
            return error_response(NotFound(f"no route for {request.path}"))
        if isinstance(error, RoutingMethodNotAllowed):
            response = error_response(MethodNotAllowed(f"{request.method} not allowed here"))
            response.headers["Allow"] = ", ".join(error.valid_methods or ())
            return response
        if isinstance(error, RequestEntityTooLarge):  # a form read past the limit
            limit = self.settings.max_json_bytes
            error = PayloadTooLarge(f"request bodies may be at most {limit} bytes")
        if isinstance(error, HTTPError):
            response = error_response(error)
            if response.status_code == 503 and "Retry-After" not in response.headers:
                response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return _unread_body_safe(response)
        outage = _outage(error)
        if outage is not None:
            logger.warning("%s unavailable: %s", outage, type(error).__name__,
                           extra={"function": self.name, "route": route})  # fmt: skip
            unavailable = error_response(ServiceUnavailable(f"{outage} is unavailable; retry"))
            unavailable.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return unavailable
        logger.exception("unhandled error", extra={"function": self.name, "route": route})
        body = {"error": {"code": "internal", "message": "internal error"}}
        return json_response(body, status=500)

    def _refuse_cross_site(self, request: Request) -> None:
        """Forbidden for a write that a browser says another site's page sent (CSRF)."""
        # One that signs in with the session cookie must show it comes from the web app or the
        # API's own pages (the share page); one with a bearer token is not at risk.
        if request.method not in UNSAFE_METHODS:
            return
        authorization = request.headers.get("Authorization")
        if authorization is not None and authorization.strip():
            return
        verdict = same_origin(request, self.own_origins)
        cookie = request.cookies.get(self.settings.auth.session_cookie_name)
        if verdict is False or (cookie and verdict is None):
            raise Forbidden(
                "cross-site requests are refused: send this from the web app, or use an API token",
                code="cross_site_request",
            )

    def _preflight(self, origin: str | None) -> Response:
        if origin != self.cors_origin:
            return error_response(Forbidden("origin not allowed", code="cors_origin_denied"))
        response = Response(status=204)
        response.headers["Access-Control-Allow-Methods"] = CORS_METHODS
        response.headers["Access-Control-Allow-Headers"] = CORS_HEADERS
        response.headers["Access-Control-Max-Age"] = "600"
        return response

    def _healthz(self, context: RequestContext) -> Response:
        # Neither the pool nor psycopg: a cold start answers its readiness probe before it
        # pays for the driver. PostgreSQL and MinIO are asked at once: one timeout bounds both.
        settings, minio = self.settings, ["down: no answer"]

        def ask_minio() -> None:
            minio[0] = _check(lambda: Storage(settings.storage).ping(HEALTH_SECONDS))

        asking = threading.Thread(target=ask_minio, name="healthz-minio", daemon=True)
        asking.start()
        postgres = _check(lambda: accepting_connections(settings.database, HEALTH_SECONDS))
        asking.join(HEALTH_SECONDS + 1)
        checks = {"postgres": postgres, "minio": minio[0]}
        problem = self.warmup.problem()
        if problem is not None:
            checks["imports"] = f"failed: {problem}"
        down = sorted(name for name, state in checks.items() if state != "ok")
        if down:
            logger.warning("unhealthy: %s", checks, extra={"function": self.name})
            unavailable = ServiceUnavailable(f"{', '.join(down)} unavailable")
            response = error_response(unavailable, {"status": "unavailable", "checks": checks})
            response.headers["Retry-After"] = str(RETRY_AFTER_SECONDS)
            return response
        return json_response({"status": "ok", "function": self.name, "checks": checks})

    def _metrics(self, context: RequestContext) -> Response:
        body, content_type = self.metrics.exposition()
        return Response(body, status=200, content_type=content_type)


RETRY_AFTER_SECONDS = 5
# Each readiness check gives up after this long (they run at once: /healthz answers within it).
HEALTH_SECONDS = 2.0


def _check(probe: Callable[[], object]) -> str:
    """A check's state: ok, or down and why."""
    try:
        probe()
    except MediaVaultError as error:  # our own words
        return f"down: {error}"
    except Exception as error:  # whatever it is, the dependency cannot be used now
        return f"down: {type(error).__name__}"
    return "ok"


def same_origin(request: Request, own_origins: frozenset[str]) -> bool | None:
    """True if the browser says our own page sent it, False if another did, None if it says not."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null":
        return origin in own_origins
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        # A page with `Referrer-Policy: no-referrer` sends `Origin: null` even to itself.
        return site == "same-origin"
    return None if origin is None else False


def _outage(error: Exception) -> str | None:
    """Which dependency an error says is down (PostgreSQL, storage), or None for a bug."""
    if is_outage(error):
        return "the database"
    if isinstance(error, StorageError | ConnectionError | TimeoutError):
        return "storage"
    # minio's HTTP client: a refused or timed-out connection to MinIO.
    if type(error).__module__.startswith("urllib3"):
        return "storage"
    return None


def _unread_body_safe(response: Response) -> Response:
    """A refusal that leaves the rest of an oversized body unread.

    functions-framework drains every request body before a buffered response is sent; a
    streamed response skips that, and closing the connection spares the server reading it too.
    """
    if response.status_code != 413:
        return response
    body = response.get_data()
    streamed = Response(iter([body]), status=413, headers=response.headers)
    streamed.headers["Connection"] = "close"
    return streamed


def request_id_from(header: str | None) -> str:
    """The caller's request id when it is sane, else a new one."""
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex


def record_request(
    metrics: HttpMetrics, method: str, route: str, response: Response, started: float
) -> None:
    """Count and log one answered request by its route pattern."""
    metrics.observe(route, method, response.status_code, time.perf_counter() - started)
    if route not in ("/healthz", "/metrics"):
        # The pattern, never the path: paths hold share tokens.
        logger.info(
            "%s %s %s",
            method,
            route,
            response.status_code,
            extra={"function": metrics.function, "route": route, "status": response.status_code},
        )
