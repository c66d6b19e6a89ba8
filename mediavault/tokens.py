"""Opaque bearer secrets (API tokens, session ids, share tokens): made random, kept as hashes."""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from itsdangerous import TimestampSigner

API_TOKEN_PREFIX = "mvt_"  # noqa: S105  (a prefix, not a secret)
TOKEN_BYTES = 32  # 256 bits


def new_token(prefix: str = API_TOKEN_PREFIX) -> str:
    """A fresh URL-safe secret with a recognisable prefix (so scanners can spot leaks)."""
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> bytes:
    """SHA-256 of the token: enough for 256-bit random secrets, and indexable for lookup."""
    return hashlib.sha256(token.encode("utf-8")).digest()


def cookie_signer(secret: str, purpose: str) -> TimestampSigner:
    """Signs short-lived cookie values; the purpose keeps one cookie from passing as another."""
    from itsdangerous import TimestampSigner

    return TimestampSigner(secret, salt=f"mediavault.{purpose}")
