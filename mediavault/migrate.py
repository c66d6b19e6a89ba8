"""Schema migrations, applied by yoyo-migrations from the SQL files in `migrations/`."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:
    from mediavault.config import DatabaseSettings

logger = logging.getLogger(__name__)

MIGRATIONS_DIR = Path(__file__).with_name("migrations")


def _backend_uri(settings: DatabaseSettings) -> str:
    user = quote(settings.user, safe="")
    password = quote(settings.password, safe="")
    return (
        f"postgresql+psycopg://{user}:{password}@{settings.host}:{settings.port}/"
        f"{quote(settings.name, safe='')}?connect_timeout={settings.connect_timeout_seconds}"
    )


def _backend(settings: DatabaseSettings) -> Any:
    """yoyo's PostgreSQL backend, told that PostgreSQL rolls back DDL rather than probing it."""
    # yoyo's probe drops a table it never committed, which PostgreSQL logs as an ERROR on every
    # start (`table "yoyo_tmp_…" does not exist`): a false alarm in every stack's log.
    from yoyo import default_migration_table
    from yoyo.backends.core.postgresql import PostgresqlPsycopgBackend
    from yoyo.connections import parse_uri

    class Backend(PostgresqlPsycopgBackend):  # type: ignore[misc]
        def _check_transactional_ddl(self) -> bool:
            return True

    backend = Backend(parse_uri(_backend_uri(settings)), default_migration_table)
    backend.init_database()
    return backend


def apply_migrations(settings: DatabaseSettings) -> list[str]:
    """Apply every pending migration under yoyo's lock; return the ids applied (empty: no-op)."""
    from yoyo import read_migrations

    backend = _backend(settings)
    migrations = read_migrations(str(MIGRATIONS_DIR))
    with backend.lock():
        pending = backend.to_apply(migrations)
        applied = [migration.id for migration in pending]
        backend.apply_migrations(pending)
    for migration_id in applied:
        logger.info("applied migration %s", migration_id)
    return applied
