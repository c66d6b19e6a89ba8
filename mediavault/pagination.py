"""Keyset pagination: opaque cursors over (created_at, id), newest first."""

from __future__ import annotations

import base64
import binascii
import json
import re
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated

from mediavault.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 100
# An encoded cursor is about 100 characters; anything much longer is not one of ours.
MAX_CURSOR_LENGTH = 200
_LIMIT = re.compile(r"[0-9]{1,3}")  # ASCII digits only: "²".isdigit() is true, int("²") fails
_CURSOR = re.compile(r"[A-Za-z0-9_\-]+")


@dataclass(frozen=True)
class Cursor:
    """The last row of a page: the next page starts strictly after it."""

    created_at: datetime
    id: str

    def encode(self) -> str:
        """An opaque, URL-safe token."""
        raw = json.dumps([self.created_at.isoformat(), self.id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """The cursor of a token from `encode`, or BadRequest (whatever the token holds)."""
        import msgspec

        invalid = BadRequest("cursor is not valid", code="invalid_cursor")
        if len(token) > MAX_CURSOR_LENGTH or not _CURSOR.fullmatch(token):
            raise invalid
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            # Exactly [timestamp, uuid]: a number, an object or deep nesting stops at its
            # first token instead of reaching the database or the recursion limit.
            shape = tuple[Annotated[datetime, msgspec.Meta(tz=True)], uuid.UUID]
            created_at, item_id = msgspec.json.decode(raw, type=shape)
        except (binascii.Error, ValueError, msgspec.DecodeError):
            raise invalid from None
        return cls(created_at, str(item_id))


def parse_limit(raw: str | None) -> int:
    """The page size: 1..100, 50 when absent."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)
