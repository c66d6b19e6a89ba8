"""The auth function: Discord sign-in, sessions, the current user and personal API tokens."""

from __future__ import annotations

import html
from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.wrappers import Response

from mediavault.errors import HTTPError, NotFound
from mediavault.text import clean_text
from mediavault.web import (
    Endpoint,
    RequestContext,
    clear_cookie,
    error_response,
    json_response,
    set_cookie,
)

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter

    from mediavault.schemas import ApiTokenCreated, ApiTokenList

LOGIN_COOKIE_PATH = "/api/auth"
NO_STORE = {"Cache-Control": "no-store"}


class SigninMetrics:
    """Sign-ins, and failed ones by reason."""

    def __init__(self, registry: CollectorRegistry) -> None:
        from prometheus_client import Counter

        self.signins: Counter = Counter(
            "mediavault_signins", "Successful Discord sign-ins.", registry=registry
        )
        self.failures: Counter = Counter(
            "mediavault_signin_failures",
            "Sign-ins that produced no session, by reason.",
            ("reason",),
            registry=registry,
        )


def endpoints(registry: CollectorRegistry) -> Iterable[Endpoint]:
    """Every route of the auth function."""
    api = AuthApi(SigninMetrics(registry))
    return [
        Endpoint("/api/auth/login", ("GET",), api.login),
        Endpoint("/api/auth/callback", ("GET",), api.callback),
        Endpoint("/api/auth/logout", ("POST",), api.logout),
        Endpoint("/api/auth/me", ("GET",), api.me),
        Endpoint("/api/auth/tokens", ("POST",), api.create_token),
        Endpoint("/api/auth/tokens", ("GET",), api.list_tokens),
        Endpoint("/api/auth/tokens/<uuid:token_id>", ("DELETE",), api.delete_token),
    ]


class AuthApi:
    """Handlers of the auth function."""

    def __init__(self, metrics: SigninMetrics) -> None:
        self.metrics = metrics

    def login(self, ctx: RequestContext) -> Response:
        from mediavault.ratelimits import client_address
        from mediavault.sessions import LOGIN_STATE_SECONDS
        from mediavault.signin import LOGIN_COOKIE, start_signin

        started = start_signin(
            ctx.settings,
            ctx.services.pool,
            ctx.request.args.get("next"),
            client=client_address(ctx.request),
        )
        response = Response(status=302, headers={"Location": started.authorize_url, **NO_STORE})
        set_cookie(
            response,
            ctx.settings,
            LOGIN_COOKIE,
            started.login_cookie,
            max_age=LOGIN_STATE_SECONDS,
            path=LOGIN_COOKIE_PATH,
        )
        return response

    def callback(self, ctx: RequestContext) -> Response:
        from mediavault.signin import LOGIN_COOKIE, finish_signin

        args = ctx.request.args
        try:
            finished = finish_signin(
                ctx.settings,
                ctx.services.pool,
                code=args.get("code"),
                state=args.get("state"),
                error=args.get("error"),
                login_cookie=ctx.request.cookies.get(LOGIN_COOKIE),
                user_agent=ctx.request.headers.get("User-Agent"),
            )
        except HTTPError as error:
            self.metrics.failures.labels(error.code).inc()
            response = _signin_error(ctx, error)
            clear_cookie(response, ctx.settings, LOGIN_COOKIE, path=LOGIN_COOKIE_PATH)
            return response
        self.metrics.signins.inc()
        target = ctx.settings.frontend_url + (finished.next_path or "/")
        response = Response(status=302, headers={"Location": target, **NO_STORE})
        clear_cookie(response, ctx.settings, LOGIN_COOKIE, path=LOGIN_COOKIE_PATH)
        set_cookie(
            response,
            ctx.settings,
            ctx.settings.auth.session_cookie_name,
            finished.session_token,
            max_age=ctx.settings.auth.session_max_age_seconds,
        )
        return response

    def logout(self, ctx: RequestContext) -> Response:
        from mediavault.sessions import delete_session

        name = ctx.settings.auth.session_cookie_name
        session = ctx.request.cookies.get(name)
        if session:
            with ctx.services.pool.connection() as conn:
                delete_session(conn, session)
        response = Response(status=204)
        clear_cookie(response, ctx.settings, name)
        return response

    def me(self, ctx: RequestContext) -> Response:
        return json_response(ctx.user().to_dict(), headers=NO_STORE)

    def create_token(self, ctx: RequestContext) -> Response:
        from mediavault.schemas import ApiTokenRequest
        from mediavault.users import check_token_allowance, create_api_token

        user = ctx.user()
        name = clean_text(ctx.body(ApiTokenRequest).name, "name", 100, required=True)
        assert name is not None
        with ctx.services.pool.connection() as conn:
            check_token_allowance(conn, user.id, ctx.settings.auth)
            created = create_api_token(conn, user.id, name)
        body: ApiTokenCreated = {
            "id": created.id,
            "name": created.name,
            "token": created.token,
            "created_at": created.created_at,
        }
        return json_response(body, status=201, headers=NO_STORE)

    def list_tokens(self, ctx: RequestContext) -> Response:
        from mediavault.pagination import Cursor, parse_limit
        from mediavault.users import list_api_tokens

        user = ctx.user()
        limit = parse_limit(ctx.request.args.get("limit"))
        raw_cursor = ctx.request.args.get("cursor")
        after = Cursor.decode(raw_cursor) if raw_cursor else None
        with ctx.services.pool.connection() as conn:
            items, following = list_api_tokens(conn, user.id, limit, after)
        body: ApiTokenList = {
            "items": items,
            "next_cursor": following.encode() if following else None,
        }
        return json_response(body, headers=NO_STORE)

    def delete_token(self, ctx: RequestContext, token_id: object) -> Response:
        from mediavault.users import delete_api_token

        user = ctx.user()
        with ctx.services.pool.connection() as conn:
            deleted = delete_api_token(conn, user.id, str(token_id))
        if not deleted:
            raise NotFound("no such token")
        return Response(status=204)


def _signin_error(ctx: RequestContext, error: HTTPError) -> Response:
    """JSON for API clients; a small readable page for a person in a browser."""
    accept = ctx.request.accept_mimetypes
    if accept.best_match(["application/json", "text/html"]) != "text/html":
        return error_response(error)
    page = (
        "<!doctype html><meta charset=utf-8><meta name=robots content=noindex>"
        "<title>Sign-in failed</title><h1>Sign-in failed</h1>"
        f"<p>{html.escape(error.message)}</p>"
        '<p><a href="/api/auth/login">Try again</a></p>'
    )
    return Response(page, status=error.status, mimetype="text/html", headers=NO_STORE)
