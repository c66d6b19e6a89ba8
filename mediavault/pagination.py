"""Keyset pagination: opaque cursors over (created_at, id), newest first."""

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
    """The last row of a page: the next page starts strictly after it."""

    created_at: datetime
    id: str

    def encode(self) -> str:
        """An opaque, URL-safe token."""
        raw = json.dumps([self.created_at.isoformat(), self.id], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, token: str) -> Cursor:
        """The cursor of a token from `encode`, or BadRequest."""
        try:
            raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
            created_at, item_id = json.loads(raw)
            return cls(datetime.fromisoformat(created_at), str(uuid.UUID(item_id)))
        except (ValueError, TypeError, UnicodeDecodeError):
            raise BadRequest("cursor is not valid", code="invalid_cursor") from None


def parse_limit(raw: str | None) -> int:
    """The page size: 1..100, 50 when absent."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise BadRequest(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)
