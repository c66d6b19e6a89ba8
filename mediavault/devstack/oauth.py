"""DEVELOPMENT ONLY: a local OAuth2 provider speaking Discord's endpoints.

`make dev` runs it when no Discord application is configured, so signing in works out of the box
(it approves every sign-in at once, as one fixed user); the tests drive the real sign-in flow
against it. It is never part of a deployment: `mediavault dev-discord` refuses to start with
MEDIAVAULT_ENV=production.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

logger = logging.getLogger(__name__)

CLIENT_ID = "fake-client-id"
CLIENT_SECRET = "fake-client-secret"  # noqa: S105  (the development provider's, public)


@dataclass
class FakeDiscord:
    """Discord's authorize, token, users/@me and users/@me/guilds, with knobs for failures."""

    user: dict[str, Any] = field(
        default_factory=lambda: {"id": "80351110224678912", "username": "nelly", "avatar": "a1"}
    )
    guilds: list[dict[str, str]] = field(default_factory=lambda: [{"id": "1", "name": "Home"}])
    authorize_error: str | None = None
    token_status: int | None = None
    token_requests: list[dict[str, str]] = field(default_factory=list)
    _codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    _codes_scope: dict[str, str] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    base_url: str = ""

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        """The WSGI app."""
        request = Request(environ)
        routes = {
            "/oauth2/authorize": self._authorize,
            "/api/oauth2/token": self._token,
            "/api/users/@me": self._me,
            "/api/users/@me/guilds": self._guilds,
        }
        handler = routes.get(request.path)
        if handler is not None:
            response = handler(request)
        elif request.path.startswith("/frontend"):
            response = Response("the frontend", mimetype="text/plain")
        else:
            response = _json({"message": "404: Not Found", "code": 0}, 404)
        return response(environ, start_response)

    def _authorize(self, request: Request) -> Response:
        args = request.args
        if args.get("client_id") != CLIENT_ID or args.get("response_type") != "code":
            return _json({"error": "invalid_request"}, 400)
        if args.get("code_challenge_method") != "S256" or not args.get("code_challenge"):
            return _json({"error": "invalid_request", "error_description": "PKCE required"}, 400)
        redirect_uri = args["redirect_uri"]
        if self.authorize_error:
            query = {"error": self.authorize_error, "state": args.get("state", "")}
            return Response(status=302, headers={"Location": f"{redirect_uri}?{urlencode(query)}"})
        code = secrets.token_urlsafe(16)
        with self._lock:
            self._codes[code] = {
                "redirect_uri": redirect_uri,
                "challenge": args["code_challenge"],
                "scope": args.get("scope", ""),
            }
        query = {"code": code, "state": args.get("state", "")}
        return Response(status=302, headers={"Location": f"{redirect_uri}?{urlencode(query)}"})

    def _token(self, request: Request) -> Response:
        form = request.form.to_dict()
        self.token_requests.append(form)
        if self.token_status == 500:
            return Response("<html>upstream exploded</html>", status=500, mimetype="text/html")
        if self.token_status is not None:
            return _json({"error": "invalid_grant"}, self.token_status)
        refusal = self._refusal(request, form)
        if refusal is not None:
            return _json({"error": refusal}, 401 if refusal == "invalid_client" else 400)
        token = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[token] = {"scope": self._codes_scope.pop(form["code"])}
        body = {
            "access_token": token,
            "token_type": "Bearer",
            "expires_in": 604800,
            "refresh_token": secrets.token_urlsafe(24),
        }
        return _json(body, 200)

    def _refusal(self, request: Request, form: dict[str, str]) -> str | None:
        """Why the token request is refused, as Discord's error code; None when it is good."""
        auth = request.authorization
        client = (auth.username, auth.password) if auth else (form.get("client_id"), None)
        if client != (CLIENT_ID, CLIENT_SECRET):
            return "invalid_client"
        with self._lock:
            grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or form.get("grant_type") != "authorization_code":
            return "invalid_grant"
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return "invalid_grant"
        if _s256(form.get("code_verifier", "")) != grant["challenge"]:
            return "invalid_grant"
        with self._lock:
            self._codes_scope[form["code"]] = grant["scope"]
        return None

    def _bearer(self, request: Request) -> dict[str, Any] | None:
        header = request.headers.get("Authorization", "")
        with self._lock:
            return self._tokens.get(header.removeprefix("Bearer "))

    def _me(self, request: Request) -> Response:
        if self._bearer(request) is None:
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        return _json(self.user, 200)

    def _guilds(self, request: Request) -> Response:
        grant = self._bearer(request)
        if grant is None or "guilds" not in grant["scope"].split():
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        return _json(self.guilds, 200)


def _s256(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def _json(body: object, status: int) -> Response:
    return Response(json.dumps(body), status=status, mimetype="application/json")


class _QuietRequestHandler(WSGIRequestHandler):
    """werkzeug's handler without its access log, whose paths would hold tokens and codes."""

    # A MediaVault function logs each request itself, by its route pattern.

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Nothing: see the class."""


class ServedApp:
    """A WSGI app on a loopback port, in a thread, until stopped."""

    def __init__(self, app: Any, port: int = 0) -> None:
        self._server = make_server(
            "127.0.0.1", port, app, threaded=True, request_handler=_QuietRequestHandler
        )
        self.base_url = f"http://127.0.0.1:{self._server.server_port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)


DEFAULT_PORT = 18090


def provider_environment(base_url: str) -> dict[str, str]:
    """The settings that point MediaVault's sign-in at a provider served at `base_url`."""
    return {
        "DISCORD_CLIENT_ID": CLIENT_ID,
        "DISCORD_CLIENT_SECRET": CLIENT_SECRET,
        "DISCORD_AUTHORIZE_URL": f"{base_url}/oauth2/authorize",
        "DISCORD_TOKEN_URL": f"{base_url}/api/oauth2/token",
        "DISCORD_API_BASE_URL": f"{base_url}/api",
    }


def serve(port: int, username: str, user_id: str, guild_ids: list[str]) -> None:
    """Serve the provider on 127.0.0.1 until interrupted."""
    fake = FakeDiscord(
        user={"id": user_id, "username": username, "avatar": None},
        guilds=[{"id": guild, "name": f"guild {guild}"} for guild in guild_ids],
    )
    served = ServedApp(fake, port)
    fake.base_url = served.base_url
    print(  # noqa: T201  (for the person at the terminal)
        f"development OAuth2 provider at {served.base_url}: every sign-in is {username}",
        flush=True,
    )
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        served.stop()
