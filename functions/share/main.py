"""The share function: the public, read-only view of a shared collection."""

from __future__ import annotations

import flask
import functions_framework

from mediavault.api.share import WARMUP, endpoints
from mediavault.function import create_function

app = create_function("share", endpoints, warmup=WARMUP)


@functions_framework.http
def share(request: flask.Request) -> flask.typing.ResponseReturnValue:
    """Entry point for functions-framework (target `share`)."""
    return app(request)
