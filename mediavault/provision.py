"""`mediavault init`: everything a fresh deployment needs before it serves, idempotently."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mediavault.migrate import apply_migrations
from mediavault.storage import Storage

if TYPE_CHECKING:
    from mediavault.config import Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InitReport:
    """What `init` changed (all empty/False on a second run)."""

    migrations_applied: list[str]
    bucket_created: bool


def initialize(settings: Settings) -> InitReport:
    """Migrate the database, create the bucket and point its upload events at NSQ."""
    applied = apply_migrations(settings.database)
    storage = Storage.from_settings(settings.storage)
    created = storage.ensure_bucket()
    storage.configure_upload_notification()
    return InitReport(migrations_applied=applied, bucket_created=created)
