"""Validation of the short texts users send: names, titles, tags, search terms."""

from __future__ import annotations

import unicodedata

from mediavault.errors import BadRequest


def has_control_characters(text: str) -> bool:
    """True when the text holds a control, format or unassigned character (NUL included)."""
    return any(unicodedata.category(c)[0] == "C" for c in text)


def clean_text(
    value: object, field: str, max_length: int, *, required: bool = False, code: str | None = None
) -> str | None:
    """Trimmed, NFC-normalised printable text of at most max_length characters; None if empty."""
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{field} must be a string", code=code)
    text = unicodedata.normalize("NFC", value.strip())
    if has_control_characters(text):
        raise BadRequest(f"{field} must not contain control characters", code=code)
    if len(text) > max_length:
        raise BadRequest(f"{field} must be at most {max_length} characters", code=code)
    if not text:
        if required:
            raise BadRequest(f"{field} must not be empty", code=code)
        return None
    return text
