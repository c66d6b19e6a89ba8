"""The web function: the SvelteKit app's files on `/`, with the SPA fallback and a strict CSP.

It owns every path the route table gives no other function. It needs neither the database nor
storage, so it is its own small WSGI app rather than a FunctionApp (whose health check and
request context open both).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from werkzeug.wrappers import Request, Response

from mediavault.errors import HTTPError, MethodNotAllowed, NotFound
from mediavault.logs import correlation_id
from mediavault.metrics import HttpMetrics
from mediavault.spa import Site, StaticFile, is_asset_path, page_headers
from mediavault.web import error_response, json_response, record_request, request_id_from

if TYPE_CHECKING:
    from pathlib import Path

    from mediavault.config import Settings

logger = logging.getLogger(__name__)

# Paths other functions own: if one reaches this function, routing is wrong; say so in JSON.
_NOT_THE_APP = ("api/", "s/")


class WebApp:
    """A functions-framework target serving the built app."""

    name = "web"

    def __init__(self, site: Site) -> None:
        self.site = site
        self.metrics = HttpMetrics(self.name)

    def __call__(self, request: Request) -> Response:
        """Answer one request; errors are JSON, never a traceback."""
        started = time.perf_counter()
        request_id = request_id_from(request.headers.get("X-Request-Id"))
        token = correlation_id.set(request_id)
        try:
            route, response = self._dispatch(request)
            response.headers["X-Request-Id"] = request_id
            response.headers["X-MediaVault-Function"] = self.name
            record_request(self.metrics, request.method, route, response, started)
            return response
        finally:
            correlation_id.reset(token)

    def _dispatch(self, request: Request) -> tuple[str, Response]:
        path = request.path
        try:
            if request.method not in ("GET", "HEAD"):
                raise MethodNotAllowed(f"{request.method} not allowed here")
            if path == "/healthz":
                return path, self._healthz()
            if path == "/metrics":
                exposition, content_type = self.metrics.exposition()
                return path, Response(exposition, content_type=content_type)
            relative = path.lstrip("/")
            if relative.startswith(_NOT_THE_APP):
                raise NotFound(f"no route for {path}")
            if relative and relative != "index.html":
                found = self.site.file(relative)
                if found is not None:
                    return "/<asset>", self._send(request, found)
                if is_asset_path(relative):
                    raise NotFound(f"no file {path}")
            # Every other path is a client-side route of the app: the page decides.
            index = self.site.index()
            headers = page_headers(self.site.csp_for(index))
            return "/<page>", self._send(request, index, headers)
        except HTTPError as error:
            response = error_response(error)
            if isinstance(error, MethodNotAllowed):
                response.headers["Allow"] = "GET, HEAD"
            return "unmatched", response
        except Exception:
            logger.exception("unhandled error", extra={"function": self.name})
            body = {"error": {"code": "internal", "message": "internal error"}}
            return "unmatched", json_response(body, status=500)

    def _healthz(self) -> Response:
        self.site.index()
        return json_response({"status": "ok", "function": self.name, "checks": {"build": "ok"}})

    def _send(
        self, request: Request, found: StaticFile, extra: dict[str, str] | None = None
    ) -> Response:
        headers = {"Cache-Control": found.cache_control, "ETag": found.etag, **(extra or {})}
        if found.etag in request.headers.get("If-None-Match", ""):
            response = Response(status=304, headers=headers)
            response.vary.add("Accept-Encoding")
            return response
        body = found.body
        if found.gzipped is not None and request.accept_encodings["gzip"]:
            body = found.gzipped
            headers["Content-Encoding"] = "gzip"
        response = Response(body, status=200, content_type=found.content_type, headers=headers)
        if found.gzipped is not None:
            response.vary.add("Accept-Encoding")
        return response


def create_web_function(settings: Settings, root: Path) -> WebApp:
    """The web function over a build directory; a missing build ends the process at start."""
    from mediavault.config import exit_with_config_error
    from mediavault.errors import ConfigError
    from mediavault.logs import configure_logging
    from mediavault.spa import BuildMissing

    configure_logging(settings.log_level)
    try:
        site = Site.load(root, settings.storage.public_url)
    except BuildMissing as error:
        exit_with_config_error(ConfigError("web/build", str(error)))
    return WebApp(site)
