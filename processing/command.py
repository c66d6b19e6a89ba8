"""`mediavault worker`, registered as an entry point: the core never imports processing."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from mediavault.commands import Command

if TYPE_CHECKING:
    from mediavault.config import Settings


def _run(args: argparse.Namespace, settings: Settings) -> int:
    from mediavault.services import Services
    from mediavault.warmup import import_all
    from processing.worker import KUBERNETES_WARMUP, WARMUP, run_worker

    # Before the pool's threads, the job threads and the loop start: no two threads ever make
    # a first import at once (mediavault.warmup).
    kubernetes = settings.processing.executor == "kubernetes"
    import_all(WARMUP + (KUBERNETES_WARMUP if kubernetes else ()))
    # Copies of large originals and uploads of derived files take longer than a request may.
    services = Services.from_settings(settings.for_worker())
    try:
        return run_worker(services)
    finally:
        services.close()


WORKER = Command("worker", "process uploads from the NSQ topic", _run)
