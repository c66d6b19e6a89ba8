"""Wiring for a function's main.py: settings read once, logging, lazily opened services."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mediavault.config import load_settings_or_exit
from mediavault.logs import configure_logging
from mediavault.services import LazyServices, Services
from mediavault.warmup import Warmup
from mediavault.web import EndpointsFactory, FunctionApp

if TYPE_CHECKING:
    from mediavault.config import Settings


def create_function(
    name: str,
    endpoints: EndpointsFactory | None = None,
    settings: Settings | None = None,
    services: Services | None = None,
    warmup: tuple[str, ...] = (),
) -> FunctionApp:
    """A function app; bad settings end the process at import, before it takes traffic."""
    # `warmup`: the modules its handlers import lazily, imported once in one thread.
    if settings is None:
        settings = services.settings if services is not None else load_settings_or_exit()
    configure_logging(settings.log_level)
    if services is not None:
        given = services
        lazy = LazyServices(lambda: given)
    else:
        lazy = LazyServices(lambda: Services.from_settings(settings))
    return FunctionApp(name, settings, lazy, endpoints, Warmup(warmup))
