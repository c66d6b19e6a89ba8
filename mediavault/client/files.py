"""The local files of an upload: walking folders, and what each file is (or why it is refused)."""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mediavault.mediatypes import SNIFF_BYTES, Format, announced_format, describe_unknown, sniff

# The announced type of each extension the server accepts (mediavault/mediatypes.py's table);
# the first bytes have the last word, the server checks them again.
EXTENSION_TYPES = {
    ".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".jpe": "image/jpeg", ".png": "image/png",
    ".apng": "image/apng", ".gif": "image/gif", ".webp": "image/webp", ".bmp": "image/bmp",
    ".tif": "image/tiff", ".tiff": "image/tiff",
    ".mp4": "video/mp4", ".m4v": "video/x-m4v", ".mov": "video/quicktime", ".qt": "video/quicktime",
    ".3gp": "video/3gpp", ".3g2": "video/3gpp2", ".mkv": "video/x-matroska", ".webm": "video/webm",
    ".avi": "video/x-msvideo", ".ts": "video/mp2t", ".mts": "video/mp2t", ".m2ts": "video/mp2t",
    ".mpg": "video/mpeg", ".mpeg": "video/mpeg", ".ogv": "video/ogg",
    ".ogg": "audio/ogg", ".oga": "audio/ogg", ".opus": "audio/opus", ".mp3": "audio/mpeg",
    ".m4a": "audio/mp4", ".aac": "audio/aac", ".flac": "audio/flac", ".wav": "audio/wav",
    ".mka": "audio/x-matroska",
}  # fmt: skip


@dataclass(frozen=True)
class LocalFile:
    """One file named on the command line or found in a folder."""

    path: Path  # absolute
    name: str  # as shown to the user: relative to the folder it was found in
    size: int
    mtime_ns: int
    content_type: str | None  # what will be announced; None when refused here
    refusal: str | None = None  # why it will not be uploaded


def content_type_for(path: Path, head: bytes) -> tuple[str | None, str | None]:
    """(announced type, None) for an accepted file, or (None, why it is refused)."""
    by_name = EXTENSION_TYPES.get(path.suffix.lower())
    found = sniff(head)
    if found is None:
        what = describe_unknown(head)
        return None, f"not a photo, video or audio file MediaVault accepts ({what})"
    named = announced_format(by_name) if by_name else None
    if by_name is not None and named == found:
        return by_name, None
    return _type_of(found, by_name), None


def _type_of(found: Format, by_name: str | None) -> str:
    """The sniffed format's type, of the kind the name suggests when it can hold that kind."""
    kind = by_name.split("/", 1)[0] if by_name else None
    return next((t for t in found.content_types if t.split("/", 1)[0] == kind),
                found.content_types[0])  # fmt: skip


def describe(path: Path, name: str) -> LocalFile:
    """Size, modification time and announced type of one file (reads its first bytes)."""
    stat = path.stat()
    if stat.st_size == 0:
        return LocalFile(path, name, 0, stat.st_mtime_ns, None, "empty file")
    try:
        with path.open("rb") as file:
            head = file.read(SNIFF_BYTES)
    except OSError as error:
        return LocalFile(path, name, stat.st_size, stat.st_mtime_ns, None, f"unreadable: {error}")
    content_type, refusal = content_type_for(path, head)
    return LocalFile(path, name, stat.st_size, stat.st_mtime_ns, content_type, refusal)


@dataclass
class Scanned:
    """What a scan found: the files, the arguments that are not files, and what it left out."""

    files: list[LocalFile]
    problems: list[str]
    skipped: list[str]


@dataclass
class _Walk:
    """One folder argument being walked."""

    base: Path  # names are shown relative to it
    recursive: bool
    follow_symlinks: bool
    skipped: list[str]

    def skip(self, path: Path, why: str) -> None:
        self.skipped.append(f"{path.relative_to(self.base)}: {why}")


def _walk(root: Path, walk: _Walk) -> Iterator[Path]:
    """Files under a folder, each folder's own in name order before its subfolders'.

    Hidden files and folders (.DS_Store, .git) are skipped, and symbolic links inside the folder
    unless `follow_symlinks`: a link could lead anywhere. Followed, each folder is walked once
    (by device and inode), so a link to a folder above ends instead of looping.
    """
    walked: set[tuple[int, int]] = set()
    pending = [root]
    while pending:
        folder = pending.pop()
        try:
            identity = os.stat(folder)
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError as error:
            walk.skip(folder, f"unreadable folder: {error.strerror}")
            continue
        if (identity.st_dev, identity.st_ino) in walked:
            walk.skip(folder, "a folder already walked (a link loop, or a second link to it)")
            continue
        walked.add((identity.st_dev, identity.st_ino))
        subfolders = []
        for entry in entries:
            path = Path(entry.path)
            if entry.name.startswith("."):
                continue
            if entry.is_symlink() and not walk.follow_symlinks:
                if walk.recursive or not entry.is_dir():  # folders are left out anyway
                    walk.skip(path, "a symbolic link, not followed (--follow-symlinks follows it)")
            elif entry.is_file():
                yield path
            elif entry.is_dir():
                if walk.recursive:
                    subfolders.append(path)
            elif entry.is_symlink():
                walk.skip(path, "a broken symbolic link")
        pending += reversed(subfolders)


def scan(paths: Iterable[Path], *, recursive: bool, follow_symlinks: bool = False) -> Scanned:
    """Every file named or found, each once, in order; what is not a file; what was left out.

    A path named on the command line is taken even when it is a symbolic link: it was asked for.
    """
    found: dict[Path, LocalFile] = {}
    problems: list[str] = []
    skipped: list[str] = []
    for argument in paths:
        path = Path(os.path.abspath(argument))
        if path.is_dir():
            walk = _Walk(path.parent, recursive, follow_symlinks, skipped)
            for file in _walk(path, walk):
                resolved = Path(os.path.abspath(file))
                name = str(file.relative_to(path.parent))
                if resolved not in found:
                    found[resolved] = describe(resolved, name)
        elif path.is_file():
            if path not in found:
                found[path] = describe(path, str(argument))
        else:
            problems.append(f"{argument}: no such file or folder")
    return Scanned(list(found.values()), problems, skipped)
