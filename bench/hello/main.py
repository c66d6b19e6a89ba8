"""The baseline of bench/images.py: a functions-framework function that does nothing."""

from __future__ import annotations

from typing import Any


def hello(request: Any) -> str:
    """Answer every request."""
    return "hello"
