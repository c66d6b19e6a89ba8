"""PostgreSQL: the connection pool and a cheap liveness check."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from psycopg import Connection
    from psycopg.rows import DictRow
    from psycopg_pool import ConnectionPool

    from mediavault.config import DatabaseSettings

    Pool: TypeAlias = ConnectionPool[Connection[DictRow]]
    DictConnection: TypeAlias = Connection[DictRow]

logger = logging.getLogger(__name__)


def create_pool(settings: DatabaseSettings, *, open_now: bool = True) -> Pool:
    """A pool that checks connections on checkout, so a restarted server heals it."""
    from psycopg import Connection
    from psycopg.rows import DictRow, dict_row
    from psycopg_pool import ConnectionPool

    pool: Pool = ConnectionPool(
        settings.conninfo(),
        connection_class=Connection[DictRow],
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        kwargs={"row_factory": dict_row},
        check=ConnectionPool.check_connection,
        timeout=float(settings.connect_timeout_seconds),
        # Give up a failing slot quickly: the next request then grows the pool with a fresh,
        # immediate attempt, so a restarted database is picked up within seconds, not minutes.
        reconnect_timeout=10.0,
        name="mediavault",
        open=False,
    )
    if open_now:
        # wait=False: a function must start (and answer /healthz 503) even while the db is down.
        pool.open(wait=False)
    return pool


def ping(pool: Pool, timeout: float = 2.0) -> None:
    """Raise if PostgreSQL cannot answer a trivial query within the timeout."""
    with pool.connection(timeout=timeout) as conn:
        conn.execute("SELECT 1")
