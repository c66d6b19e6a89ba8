"""Keyset pagination: opaque cursors over (sort key, id), in the list's order."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import dataclass
from datetime import datetime

from mediavault.errors import BadRequest

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


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
        """The cursor of a token from `encode`, or BadRequest."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            at, item_id, *rest = json.loads(raw)
            sort = rest[0] if rest else "created_at"
            if len(rest) > 1 or not isinstance(sort, str) or not isinstance(at, str):
                raise ValueError
            moment = datetime.fromisoformat(at)
            if moment.tzinfo is None:
                raise ValueError
            return cls(moment, str(uuid.UUID(item_id)), sort)
        except (ValueError, TypeError, UnicodeDecodeError, AttributeError):
            raise BadRequest("cursor is not valid", code="invalid_cursor") from None


def parse_limit(raw: str | None) -> int:
    """The page size: 1..100, 50 when absent."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)
