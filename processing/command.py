"""`mediavault worker`, registered as an entry point: the core never imports processing."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mediavault.commands import Command

if TYPE_CHECKING:
    from mediavault.config import Settings


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from mediavault.services import Services
    from processing.worker import run_worker

    services = Services.from_settings(settings)
    try:
        return run_worker(services)
    finally:
        services.close()


WORKER = Command("worker", "process uploads from the NSQ topic", _run)
