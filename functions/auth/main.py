"""The auth function: Discord sign-in, sessions and personal API tokens."""

from __future__ import annotations

import flask
import functions_framework

from mediavault.api.auth import WARMUP, endpoints
from mediavault.function import create_function

app = create_function("auth", endpoints, warmup=WARMUP)


@functions_framework.http
def auth(request: flask.Request) -> flask.typing.ResponseReturnValue:
    """Entry point for functions-framework (target `auth`)."""
    return app(request)
