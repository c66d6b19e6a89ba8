"""The collections function: collections and their share links."""

from __future__ import annotations

import flask
import functions_framework

from mediavault.api.collections import WARMUP, endpoints
from mediavault.function import create_function

app = create_function("collections", endpoints, warmup=WARMUP)


@functions_framework.http
def collections(request: flask.Request) -> flask.typing.ResponseReturnValue:
    """Entry point for functions-framework (target `collections`)."""
    return app(request)
