"""`mediavault token create`: a token the core accepts, stored only as its hash."""

from __future__ import annotations

import subprocess
import sys

import pytest

from mediavault.auth import authenticate, bearer_token
from mediavault.errors import Unauthorized
from mediavault.services import Services
from mediavault.tokens import hash_token
from tests.conftest import Stack


def _token_create(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediavault.cli", "token", "create", *args],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_token_create_prints_a_token_the_core_accepts_and_stores_its_hash_only(
    stack: Stack, services: Services
) -> None:
    result = _token_create(stack, "--user", "alice")
    assert result.returncode == 0, result.stderr
    token = result.stdout.strip()
    assert token.startswith("mvt_")
    assert len(token) >= 40

    user = authenticate(services.pool, f"Bearer {token}", None)
    assert user.username == "alice"

    with services.pool.connection() as conn:
        rows = conn.execute("SELECT * FROM api_tokens WHERE user_id = %s", (user.id,)).fetchall()
        everywhere = conn.execute(
            "SELECT count(*) AS n FROM api_tokens t WHERE t::text LIKE %s", (f"%{token[4:20]}%",)
        ).fetchone()
    assert [row["token_hash"] for row in rows if row["token_hash"] == hash_token(token)]
    assert everywhere is not None
    assert everywhere["n"] == 0


def test_a_second_token_reuses_the_user(stack: Stack, services: Services) -> None:
    first = _token_create(stack, "--user", "bob")
    second = _token_create(stack, "--user", "bob", "--name", "laptop")
    assert first.returncode == second.returncode == 0
    one = authenticate(services.pool, f"Bearer {first.stdout.strip()}", None)
    two = authenticate(services.pool, f"Bearer {second.stdout.strip()}", None)
    assert one.id == two.id


def test_last_used_at_is_recorded(stack: Stack, services: Services) -> None:
    token = _token_create(stack, "--user", "carol").stdout.strip()
    authenticate(services.pool, f"Bearer {token}", None)
    with services.pool.connection() as conn:
        row = conn.execute(
            "SELECT last_used_at FROM api_tokens WHERE token_hash = %s", (hash_token(token),)
        ).fetchone()
    assert row is not None
    assert row["last_used_at"] is not None


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer a b c",
        "Bearer \u00e9\u00e9\u00e9",
        "x" * 5000,
    ],
)
def test_malformed_authorization_is_unauthorized(header: str) -> None:
    with pytest.raises(Unauthorized):
        bearer_token(header)


def test_unknown_token_and_no_credentials_are_unauthorized(services: Services) -> None:
    with pytest.raises(Unauthorized):
        authenticate(services.pool, "Bearer mvt_" + "A" * 43, None)
    with pytest.raises(Unauthorized):
        authenticate(services.pool, None, None)


def test_token_create_says_why_when_the_database_is_down(stack: Stack) -> None:
    env = {**stack.env, "POSTGRES_PORT": "1", "POSTGRES_CONNECT_TIMEOUT_SECONDS": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "mediavault.cli", "token", "create", "--user", "dave"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "PostgreSQL" in result.stderr
    assert "Traceback" not in result.stderr
