"""The presign function: presigned uploads, single and multipart."""

from __future__ import annotations

import flask
import functions_framework

from mediavault.api.uploads import WARMUP, endpoints
from mediavault.function import create_function

app = create_function("presign", endpoints, warmup=WARMUP)


@functions_framework.http
def presign(request: flask.Request) -> flask.typing.ResponseReturnValue:
    """Entry point for functions-framework (target `presign`)."""
    return app(request)
