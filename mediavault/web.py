"""The HTTP side shared by every function: routing, JSON, errors, auth, health and metrics."""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import MethodNotAllowed as RoutingMethodNotAllowed
from werkzeug.exceptions import NotFound as RoutingNotFound
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from mediavault.errors import BadRequest, HTTPError, MethodNotAllowed, NotFound, ServiceUnavailable
from mediavault.logs import correlation_id
from mediavault.metrics import HttpMetrics

if TYPE_CHECKING:
    from mediavault.services import LazyServices, Services
    from mediavault.users import User

logger = logging.getLogger(__name__)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._\-]{1,64}")
JSON_TYPE = "application/json"


@dataclass
class RequestContext:
    """One request with the function's services; handlers get this and the URL's arguments."""

    request: Request
    services: Services
    request_id: str

    def user(self) -> User:
        """The authenticated user, or Unauthorized."""
        from mediavault.auth import authenticate

        cookie_name = self.services.settings.auth.session_cookie_name
        return authenticate(
            self.services.pool,
            self.request.headers.get("Authorization"),
            self.request.cookies.get(cookie_name),
        )

    def json_body(self) -> dict[str, Any]:
        """The request's JSON object, or BadRequest."""
        try:
            body = json.loads(self.request.get_data(cache=True) or b"null")
        except (ValueError, UnicodeDecodeError):
            raise BadRequest("request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise BadRequest("request body must be a JSON object")
        return body


Handler = Callable[..., Response]


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
        json.dumps(payload, default=str, separators=(",", ":")),
        status=status,
        mimetype=JSON_TYPE,
        headers=dict(headers or {}),
    )


def error_response(error: HTTPError, extra: Mapping[str, object] | None = None) -> Response:
    """The JSON error shape of DESIGN.md."""
    return json_response({**error.to_dict(), **(extra or {})}, status=error.status)


class FunctionApp:
    """A functions-framework target: dispatches to endpoints and adds /healthz and /metrics."""

    def __init__(
        self,
        name: str,
        services: LazyServices,
        endpoints: Iterable[Endpoint] = (),
    ) -> None:
        self.name = name
        self.services = services
        self.metrics = HttpMetrics(name)
        builtin = [
            Endpoint("/healthz", ("GET",), self._healthz),
            Endpoint("/metrics", ("GET",), self._metrics),
        ]
        self._handlers: dict[str, Handler] = {}
        rules = []
        for endpoint in [*builtin, *endpoints]:
            self._handlers[endpoint.pattern] = endpoint.handler
            rules.append(
                Rule(endpoint.pattern, endpoint=endpoint.pattern, methods=endpoint.methods)
            )
        self._url_map = Map(rules, strict_slashes=False, merge_slashes=False)

    def __call__(self, request: Request) -> Response:
        """Answer one request; never lets an exception escape as a traceback."""
        started = time.perf_counter()
        request_id = _request_id(request.headers.get("X-Request-Id"))
        token = correlation_id.set(request_id)
        route = "unmatched"
        try:
            try:
                adapter = self._url_map.bind_to_environ(request.environ)
                route, arguments = adapter.match()
                context = RequestContext(request, self.services.get(), request_id)
                response = self._handlers[route](context, **arguments)
            except RoutingNotFound:
                response = error_response(NotFound(f"no route for {request.path}"))
            except RoutingMethodNotAllowed as error:
                response = error_response(MethodNotAllowed(f"{request.method} not allowed here"))
                response.headers["Allow"] = ", ".join(error.valid_methods or ())
            except HTTPError as error:
                response = error_response(error)
            except Exception:
                logger.exception("unhandled error", extra={"function": self.name, "route": route})
                response = json_response(
                    {"error": {"code": "internal", "message": "internal error"}}, status=500
                )
            response.headers["X-Request-Id"] = request_id
            response.headers["X-MediaVault-Function"] = self.name
            elapsed = time.perf_counter() - started
            self.metrics.observe(route, request.method, response.status_code, elapsed)
            if route not in ("/healthz", "/metrics"):
                logger.info(
                    "%s %s %s",
                    request.method,
                    request.path,
                    response.status_code,
                    extra={"function": self.name, "route": route, "status": response.status_code},
                )
            return response
        finally:
            correlation_id.reset(token)

    def _healthz(self, context: RequestContext) -> Response:
        from mediavault.db import ping

        checks: dict[str, str] = {}
        try:
            ping(context.services.pool)
            checks["postgres"] = "ok"
        except Exception as error:
            checks["postgres"] = f"down: {type(error).__name__}"
        try:
            context.services.storage.ping()
            checks["minio"] = "ok"
        except Exception as error:
            checks["minio"] = f"down: {error}"
        down = sorted(name for name, state in checks.items() if state != "ok")
        if down:
            logger.warning("unhealthy: %s", checks, extra={"function": self.name})
            unavailable = ServiceUnavailable(f"{', '.join(down)} unavailable")
            return error_response(unavailable, {"status": "unavailable", "checks": checks})
        return json_response({"status": "ok", "function": self.name, "checks": checks})

    def _metrics(self, context: RequestContext) -> Response:
        body, content_type = self.metrics.exposition()
        return Response(body, status=200, content_type=content_type)


def _request_id(header: str | None) -> str:
    """The caller's request id when it is sane, else a new one."""
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return uuid.uuid4().hex
