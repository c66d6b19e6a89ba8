"""`mediavault init`: everything a fresh deployment needs before it serves, idempotently."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from mediavault.migrate import apply_migrations
from mediavault.storage import Storage

if TYPE_CHECKING:
    from mediavault.config import ProvisionSettings, Settings

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InitReport:
    """What `init` changed (all empty/False on a second run)."""

    migrations_applied: list[str]
    bucket_created: bool


def initialize(settings: Settings, provision: ProvisionSettings) -> InitReport:
    """Migrate the database, create the bucket, its role accounts and its upload events."""
    from dataclasses import replace

    from mediavault.access import ensure_role_accounts

    applied = apply_migrations(settings.database)
    # Only this step holds MinIO's root account: bucket, notification and the scoped users.
    root = replace(
        settings.storage,
        access_key=provision.root.access_key,
        secret_key=provision.root.secret_key,
    )
    storage = Storage.from_settings(root)
    created = storage.ensure_bucket()
    storage.configure_upload_notification()
    ensure_role_accounts(root, provision)
    return InitReport(migrations_applied=applied, bucket_created=created)
