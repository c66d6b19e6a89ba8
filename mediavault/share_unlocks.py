"""Share password attempts: counted per client network and per link, so guessing stays slow.

A client is the network its address belongs to (an IPv6 /64, which one subscriber usually holds
whole; an IPv4 address), hashed with the link: no address is stored. Each client has a few
wrong guesses per window. The link's own count bounds guessing from many networks at once, but
only for clients that have already guessed wrong: once it is reached a new client gets one try,
so the people the link was sent to are never locked out by somebody else's guessing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from mediavault.ratelimits import client_network, hashed

if TYPE_CHECKING:
    from mediavault.db import DictConnection

# Wrong passwords allowed per window: per client, and per link from everyone together.
CLIENT_ATTEMPTS = 5
LINK_ATTEMPTS = 100
UNLOCK_WINDOW_SECONDS = 900


def client_key(share_id: str, address: str) -> str:
    """Who is guessing at this link: their network hashed with the link."""
    return hashed(share_id, client_network(address))


@dataclass(frozen=True)
class Attempt:
    """The answer to "may this client try a password now?"."""

    allowed: bool
    retry_after_seconds: int = 0


def reserve(conn: DictConnection, share_id: str, client: str) -> Attempt:
    """Count one more attempt for the client and the link before the (slow) check.

    The link's row is locked while deciding, so concurrent guesses are counted one by one; a
    right password gives its attempt back. A refused attempt counts nowhere.
    """
    params = {"window": UNLOCK_WINDOW_SECONDS, "id": share_id, "client": client}
    link = conn.execute(
        "SELECT CASE WHEN unlock_window_started_at IS NULL"
        "   OR unlock_window_started_at < now() - make_interval(secs => %(window)s)"
        "   THEN 0 ELSE failed_unlocks END AS failures"
        " FROM share_links WHERE id = %(id)s FOR UPDATE",
        params,
    ).fetchone()
    mine = conn.execute(
        "SELECT failures, ceil(extract(epoch FROM window_started_at"
        "   + make_interval(secs => %(window)s) - now()))::int AS seconds_left"
        " FROM share_unlock_failures WHERE share_id = %(id)s AND client = %(client)s"
        " AND window_started_at >= now() - make_interval(secs => %(window)s)",
        params,
    ).fetchone()
    if link is None:
        return Attempt(allowed=False, retry_after_seconds=UNLOCK_WINDOW_SECONDS)
    failures = int(mine["failures"]) if mine else 0
    link_busy = int(link["failures"]) >= LINK_ATTEMPTS
    if failures >= CLIENT_ATTEMPTS or (failures > 0 and link_busy):
        assert mine is not None
        return Attempt(allowed=False, retry_after_seconds=max(1, int(mine["seconds_left"])))
    conn.execute(
        "INSERT INTO share_unlock_failures (share_id, client, failures, window_started_at)"
        " VALUES (%(id)s, %(client)s, 1, now()) ON CONFLICT (share_id, client) DO UPDATE SET"
        " failures = CASE WHEN share_unlock_failures.window_started_at"
        "   < now() - make_interval(secs => %(window)s) THEN 1"
        "   ELSE share_unlock_failures.failures + 1 END,"
        " window_started_at = CASE WHEN share_unlock_failures.window_started_at"
        "   < now() - make_interval(secs => %(window)s) THEN now()"
        "   ELSE share_unlock_failures.window_started_at END",
        params,
    )
    conn.execute(
        "UPDATE share_links SET"
        " failed_unlocks = CASE WHEN unlock_window_started_at IS NULL"
        "   OR unlock_window_started_at < now() - make_interval(secs => %(window)s)"
        "   THEN 1 ELSE failed_unlocks + 1 END,"
        " unlock_window_started_at = CASE WHEN unlock_window_started_at IS NULL"
        "   OR unlock_window_started_at < now() - make_interval(secs => %(window)s)"
        "   THEN now() ELSE unlock_window_started_at END"
        " WHERE id = %(id)s",
        params,
    )
    return Attempt(allowed=True)


def give_back(conn: DictConnection, share_id: str, client: str) -> None:
    """The password was right: this client starts afresh and the link's count loses one."""
    conn.execute(
        "DELETE FROM share_unlock_failures WHERE share_id = %s AND client = %s", (share_id, client)
    )
    conn.execute(
        "UPDATE share_links SET failed_unlocks = greatest(failed_unlocks - 1, 0) WHERE id = %s",
        (share_id,),
    )
