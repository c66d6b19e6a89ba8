"""PostgreSQL: the connection pool and a cheap liveness check."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from psycopg_pool import ConnectionPool

    from mediavault.config import DatabaseSettings

logger = logging.getLogger(__name__)


def create_pool(settings: DatabaseSettings, *, open_now: bool = True) -> ConnectionPool:
    """A pool that checks connections on checkout, so a restarted server heals it."""
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    pool = ConnectionPool(
        settings.conninfo(),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        kwargs={"row_factory": dict_row},
        check=ConnectionPool.check_connection,
        timeout=float(settings.connect_timeout_seconds),
        reconnect_timeout=60.0,
        name="mediavault",
        open=False,
    )
    if open_now:
        # wait=False: a function must start (and answer /healthz 503) even while the db is down.
        pool.open(wait=False)
    return pool


def ping(pool: ConnectionPool, timeout: float = 2.0) -> None:
    """Raise if PostgreSQL cannot answer a trivial query within the timeout."""
    with pool.connection(timeout=timeout) as conn:
        conn.execute("SELECT 1")
