"""Fixed-window counters in PostgreSQL: how often one client or user may do a costly thing.

Counters live in the database because every function instance scales on its own: a limit kept
in one process's memory would multiply with the instances.
"""

from __future__ import annotations

import hashlib
import ipaddress
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from werkzeug.wrappers import Request

    from mediavault.db import DictConnection

_IPV6_CLIENT_PREFIX = 64


def client_network(address: str) -> str:
    """The network a client address stands for: an IPv6 /64, or the IPv4 address itself.

    One subscriber usually holds a whole /64, so counting single IPv6 addresses would give a
    guesser 2^64 fresh clients.
    """
    try:
        parsed = ipaddress.ip_address(address.strip())
    except ValueError:
        return address.strip()  # not an address: still one client, whatever it is
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, _IPV6_CLIENT_PREFIX), strict=False))
    return str(parsed)


def client_address(request: Request) -> str:
    """The address the nearest proxy saw (the last X-Forwarded-For entry, which a client cannot
    choose), or the peer's own."""
    route = request.access_route
    return route[-1] if route else (request.remote_addr or "")


def hashed(*parts: str) -> str:
    """A counter's key: no address or id is stored as it is."""
    return hashlib.sha256(":".join(parts).encode()).hexdigest()[:32]


def take(conn: DictConnection, scope: str, key: str, limit: int, window_seconds: int) -> int:
    """Count one more use; 0 when it is within `limit` per window, else seconds to wait.

    A refused use is not counted, so a client that keeps trying is not held back for longer.
    """
    # hits stops at limit + 1: above the limit means refused, and refusals are not counted.
    row = conn.execute(
        "INSERT INTO rate_limit_windows AS w (scope, key, hits, window_started_at)"
        " VALUES (%(scope)s, %(key)s, 1, now()) ON CONFLICT (scope, key) DO UPDATE SET"
        " hits = CASE WHEN w.window_started_at < now() - make_interval(secs => %(window)s)"
        "   THEN 1 ELSE least(w.hits + 1, %(limit)s + 1) END,"
        " window_started_at = CASE"
        "   WHEN w.window_started_at < now() - make_interval(secs => %(window)s) THEN now()"
        "   ELSE w.window_started_at END"
        " RETURNING hits, ceil(extract(epoch FROM window_started_at"
        "   + make_interval(secs => %(window)s) - now()))::int AS seconds_left",
        {"scope": scope, "key": key, "limit": limit, "window": window_seconds},
    ).fetchone()
    assert row is not None
    if row["hits"] <= limit:
        return 0
    return max(1, int(row["seconds_left"]))


def forget_stale(conn: DictConnection, older_than_seconds: int) -> int:
    """Drop counters whose window ended long ago (reconcile's housekeeping)."""
    return conn.execute(
        "DELETE FROM rate_limit_windows"
        " WHERE window_started_at < now() - make_interval(secs => %s)",
        (older_than_seconds,),
    ).rowcount
