"""Share passwords: guessers are slowed down and stopped without locking out the people invited."""

from __future__ import annotations

from typing import Any

from flask.testing import FlaskClient

from tests.api_fixtures import ApiUser


def _password_link(collections_api: FlaskClient, user: ApiUser, password: str) -> str:
    """The unlock path of a new password-protected link to an empty collection."""
    collection = collections_api.post(
        "/api/collections", json={"title": "Trip"}, headers=user.headers
    ).get_json()["id"]
    share = collections_api.post(
        f"/api/collections/{collection}/shares", json={"password": password}, headers=user.headers
    ).get_json()
    return f"/api/share/{share['token']}/unlock"


def _try(share_api: FlaskClient, unlock: str, password: str, address: str) -> Any:
    """One unlock attempt from a client at `address` (as the nearest proxy saw it)."""
    fresh = share_api.application.test_client()  # no cookie from an earlier unlock
    return fresh.post(unlock, json={"password": password}, headers={"X-Forwarded-For": address})


def test_guessers_on_many_addresses_do_not_lock_out_a_viewer_who_never_guessed_wrong(
    collections_api: FlaskClient, share_api: FlaskClient, alice: ApiUser
) -> None:
    unlock = _password_link(collections_api, alice, "correct horse")
    # 125 wrong guesses, 5 from each of 25 addresses: more than the link's whole allowance.
    statuses = [
        _try(share_api, unlock, f"guess {n}", f"198.51.100.{host}").status_code
        for host in range(2, 27)
        for n in range(5)
    ]
    assert set(statuses) <= {401, 429}
    assert statuses.count(401) >= 100

    # The invited viewer, who has not guessed wrong, still gets in with the right password.
    viewer = _try(share_api, unlock, "correct horse", "203.0.113.50")
    assert viewer.status_code == 204
    # A guesser is held back, even with the right password...
    guesser = _try(share_api, unlock, "correct horse", "198.51.100.2")
    assert guesser.status_code == 429
    assert guesser.get_json()["error"]["code"] == "too_many_attempts"
    assert 0 < int(guesser.headers["Retry-After"]) <= 900
    # ...and while the link is being guessed at, a new address gets one try, not five.
    assert _try(share_api, unlock, "wrong", "203.0.113.60").status_code == 401
    assert _try(share_api, unlock, "correct horse", "203.0.113.60").status_code == 429


def test_a_client_is_its_ipv6_64_not_each_address_in_it(
    collections_api: FlaskClient, share_api: FlaskClient, alice: ApiUser
) -> None:
    unlock = _password_link(collections_api, alice, "pw")
    for host in range(1, 6):  # five addresses of one /64: one client's five guesses
        assert _try(share_api, unlock, "wrong", f"2001:db8:1:2::{host}").status_code == 401
    limited = _try(share_api, unlock, "pw", "2001:db8:1:2:ffff::99")
    assert limited.status_code == 429
    # The next /64 is somebody else.
    assert _try(share_api, unlock, "pw", "2001:db8:1:3::1").status_code == 204
    # An IPv4 address, written as IPv6 by a dual-stack proxy, is the same client as itself.
    for _ in range(5):
        assert _try(share_api, unlock, "wrong", "192.0.2.9").status_code == 401
    assert _try(share_api, unlock, "pw", "::ffff:192.0.2.9").status_code == 429


def test_a_right_password_clears_the_clients_wrong_guesses(
    collections_api: FlaskClient, share_api: FlaskClient, alice: ApiUser
) -> None:
    unlock = _password_link(collections_api, alice, "pw")
    for _ in range(4):  # a viewer who mistyped four times
        assert _try(share_api, unlock, "typo", "203.0.113.9").status_code == 401
    assert _try(share_api, unlock, "pw", "203.0.113.9").status_code == 204
    for _ in range(5):  # starts afresh: five more tries before being held back
        assert _try(share_api, unlock, "typo", "203.0.113.9").status_code == 401
    assert _try(share_api, unlock, "pw", "203.0.113.9").status_code == 429
