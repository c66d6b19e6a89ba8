"""Local file names for a server's media: never hidden, escaping, unprintable or too long.

A server is not trusted with the folder it downloads into: its names are reduced to a plain,
visible file name of at most NAME_MAX bytes (UTF-8), the extension kept, and made distinct.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

NAME_MAX = 255  # bytes: the limit of ext4, XFS, btrfs, APFS and NTFS (in UTF-16 units there)
MAX_EXTENSION = 16  # bytes, the dot included: longer, it is not treated as an extension
# Bidirectional overrides and marks: `evil\u202egpj.exe` shows as `evilexe.jpg`.
_BIDI = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_SEPARATORS = re.compile(r"[/\\]")
# Device names Windows reserves whatever the extension (CON.jpg is the console).
_RESERVED = re.compile(r"(con|prn|aux|nul|com[0-9¹²³]|lpt[0-9¹²³]|conin\$|conout\$)", re.I)


def printable(text: str) -> str:
    """The text with control characters, line breaks and bidi overrides made visible as `_`."""
    return "".join("_" if _unprintable(c) else c for c in text)


def _unprintable(char: str) -> bool:
    return unicodedata.category(char) in ("Cc", "Zl", "Zp") or char in _BIDI


def fit(stem: str, extension: str, limit: int = NAME_MAX) -> str:
    """`stem + extension`, the stem cut (on a character boundary) to fit in `limit` bytes."""
    room = limit - len(extension.encode())
    return stem.encode()[:room].decode(errors="ignore") + extension


def split_extension(name: str) -> tuple[str, str]:
    """(stem, extension) where the extension is a short `.xyz` (`.tar.gz` counts as `.gz`)."""
    dot = name.rfind(".")
    if dot <= 0 or len(name[dot:].encode()) > MAX_EXTENSION or " " in name[dot:]:
        return name, ""
    return name[:dot], name[dot:]


def safe_name(raw: str, fallback: str, limit: int = NAME_MAX) -> str:
    """A plain file name for `raw`: its last path component, visible, not reserved, short enough.

    `fallback` (the item's id) stands in when nothing of the name is left.
    """
    components = [c for c in _SEPARATORS.split(unicodedata.normalize("NFC", raw)) if c]
    name = printable(components[-1]) if components else ""
    # Leading dots hide a file (.bashrc) or climb (..); trailing dots and spaces vanish on Windows.
    name = name.strip().lstrip(".").rstrip(". ").strip()
    if not name:
        return safe_name(fallback, "media", limit) if fallback != raw else "media"
    if _RESERVED.fullmatch(name.split(".", 1)[0].rstrip(" ")):
        name = "_" + name
    stem, extension = split_extension(name)
    return fit(stem, extension, limit)


def local_names(items: Iterable[Mapping[str, Any]], limit: int = NAME_MAX) -> list[str]:
    """A safe name for each item, numbered `name (2).jpg` when two would be alike."""
    taken: set[str] = set()
    names = []
    for item in items:
        name = safe_name(str(item["filename"]), str(item["id"]), limit)
        stem, extension = split_extension(name)
        candidate, count = name, 1
        # Alike regardless of case: macOS and Windows folders would make them one file.
        while candidate.casefold() in taken:
            count += 1
            candidate = fit(stem, f" ({count}){extension}", limit)
        taken.add(candidate.casefold())
        names.append(candidate)
    return names
