"""PostgreSQL: the connection pool and a cheap liveness check."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TypeAlias

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
    # Nothing waits unbounded: for a connection (POSTGRES_POOL_TIMEOUT_SECONDS), for a new one
    # (POSTGRES_CONNECT_TIMEOUT_SECONDS), for any answer (POSTGRES_STATEMENT_TIMEOUT_SECONDS,
    # which the server enforces, and a second more on this side, for a server that does not
    # answer at all). Once the database is seen down, callers fail at once for a moment.
    from psycopg.rows import dict_row
    from psycopg_pool import ConnectionPool

    check_seconds = settings.pool_timeout_seconds

    def check(conn: DictConnection) -> None:
        # A healthy server answers an empty query at once; a checkout waits no longer in all.
        with replies_within(conn, check_seconds):
            ConnectionPool.check_connection(conn)

    pool: Pool = _pool_class()(
        settings.conninfo(),
        connection_class=_connection_class(settings.reply_timeout_seconds),
        min_size=settings.pool_min_size,
        max_size=settings.pool_max_size,
        kwargs={"row_factory": dict_row, "options": settings.session_options()},
        check=check,
        timeout=settings.pool_timeout_seconds,
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
    with pool.connection(timeout=timeout) as conn, replies_within(conn, timeout):
        conn.execute("SELECT 1")


@contextmanager
def replies_within(conn: DictConnection, seconds: float) -> Iterator[None]:
    """In the block, the connection waits at most `seconds` for each answer (not its default)."""
    bounded = getattr(conn, "reply_seconds", None)
    if bounded is None:  # not one of the pool's own connections: nothing to narrow
        yield
        return
    conn.reply_seconds = seconds  # type: ignore[attr-defined]
    try:
        yield
    finally:
        conn.reply_seconds = bounded  # type: ignore[attr-defined]


def _connection_class(reply_timeout: float) -> type[DictConnection]:
    """A connection that gives up on a server that does not answer within `reply_timeout`."""
    from psycopg import Connection, OperationalError
    from psycopg.errors import _WaitTimeout
    from psycopg.rows import DictRow

    # Every exchange with the server goes through Connection.wait. A stopped server (SIGSTOP,
    # a frozen VM) keeps the connection open and its kernel acknowledges what is sent: without
    # a bound here a query waits forever, and no server-side timeout can help.
    class BoundedConnection(Connection[DictRow]):
        reply_seconds: float = reply_timeout  # replies_within narrows it for a block

        def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
            limit = self.reply_seconds if timeout is None else timeout
            try:
                return super().wait(gen, interval, limit)
            except _WaitTimeout:
                self.pgconn.finish()  # an answer may still come: this one is never reused
                raise OperationalError(f"PostgreSQL did not answer within {limit:g} s") from None

    return BoundedConnection


# pg_isready's question: the protocol 3.0 startup message, answered before any password.
_PROTOCOL_3 = 196608
_CANNOT_CONNECT_NOW = b"C57P03\0"  # SQLSTATE of "the database system is starting up" and kin


def accepting_connections(settings: DatabaseSettings, timeout: float = 2.0) -> None:
    """Raise unless PostgreSQL accepts connections, asked as pg_isready asks (no driver)."""
    import socket
    import struct

    fields = {"user": settings.user, "database": settings.name, "application_name": "mediavault"}
    body = b"".join(f"{key}\0{value}\0".encode() for key, value in fields.items()) + b"\0"
    with socket.create_connection((settings.host, settings.port), timeout=timeout) as sock:
        sock.sendall(struct.pack("!ii", 8 + len(body), _PROTOCOL_3) + body)
        reply = sock.recv(4096)
    # 'R' asks for a password: the server takes connections. An 'E' refuses this login (the
    # server answered all the same) unless it says the server cannot take any right now.
    if reply[:1] == b"R" or (reply[:1] == b"E" and _CANNOT_CONNECT_NOW not in reply):
        return
    raise ConnectionError("PostgreSQL does not accept connections now")


# After a failure, fail fast for this long; then one caller tries the database again.
_FAIL_FAST_SECONDS = 2.0


def _pool_class() -> type[Pool]:
    """ConnectionPool that remembers an outage (state of this pool, not of the module)."""
    import time

    from psycopg import Connection, OperationalError
    from psycopg.errors import QueryCanceled
    from psycopg.rows import DictRow
    from psycopg_pool import ConnectionPool, PoolTimeout

    class FailFastPool(ConnectionPool[Connection[DictRow]]):
        _down_until = 0.0

        @contextmanager
        def connection(self, timeout: float | None = None) -> Iterator[Connection[DictRow]]:
            if time.monotonic() < self._down_until:
                raise PoolTimeout("PostgreSQL was unreachable a moment ago")
            try:
                with super().connection(timeout) as conn:
                    yield conn
            except QueryCanceled:  # the server's statement timeout: it is up, only busy
                raise
            except OperationalError:  # PoolTimeout too
                self._down_until = time.monotonic() + _FAIL_FAST_SECONDS
                raise

    return FailFastPool


def is_outage(error: BaseException) -> bool:
    """True for errors that mean PostgreSQL is unreachable (not that a query was wrong)."""
    import sys

    psycopg = sys.modules.get("psycopg")
    return psycopg is not None and isinstance(error, psycopg.OperationalError)
