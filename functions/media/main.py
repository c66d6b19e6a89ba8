"""The media function: the user's media and tags."""

from __future__ import annotations

import flask
import functions_framework

from mediavault.api.media import WARMUP, endpoints
from mediavault.function import create_function

app = create_function("media", endpoints, warmup=WARMUP)


@functions_framework.http
def media(request: flask.Request) -> flask.typing.ResponseReturnValue:
    """Entry point for functions-framework (target `media`)."""
    return app(request)
