"""Keyset pagination: opaque cursors over (sort key, id), in the list's order."""

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
    """The last row of a page: the next page starts strictly after it.

    `sort` names the ordering the cursor belongs to (created_at unless a list says otherwise),
    so that a cursor of one ordering is never read as a position in another.
    """

    at: datetime
    id: str
    sort: str = "created_at"

    def encode(self) -> str:
        """An opaque, URL-safe token."""
        parts = [self.at.isoformat(), self.id]
        if self.sort != "created_at":
            parts.append(self.sort)
        raw = json.dumps(parts, separators=(",", ":"))
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
            # Exactly [timestamp, uuid] or [timestamp, uuid, ordering]: a number, an object or
            # deep nesting stops at its first token instead of reaching the database.
            parts = msgspec.json.decode(raw, type=Annotated[list[str], msgspec.Meta(max_length=3)])
            if len(parts) < 2:
                raise ValueError
            moment = datetime.fromisoformat(parts[0])
            if moment.tzinfo is None:
                raise ValueError
            item_id = uuid.UUID(parts[1])
        except (binascii.Error, ValueError, msgspec.DecodeError):
            raise invalid from None
        return cls(moment, str(item_id), parts[2] if len(parts) == 3 else "created_at")


def parse_limit(raw: str | None) -> int:
    """The page size: 1..100, 50 when absent."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not _LIMIT.fullmatch(raw) or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)
