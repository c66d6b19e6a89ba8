"""The web function: the SvelteKit app (web/build) on every path no other function owns."""

from __future__ import annotations

from pathlib import Path

import flask
import functions_framework

from mediavault.api.web import create_web_function
from mediavault.config import load_settings_or_exit

# functions/web/main.py → the repository (or /app in the image) → web/build.
BUILD = Path(__file__).resolve().parents[2] / "web" / "build"

app = create_web_function(load_settings_or_exit(), BUILD)


@functions_framework.http
def web(request: flask.Request) -> flask.typing.ResponseReturnValue:
    """Entry point for functions-framework (target `web`)."""
    return app(request)
