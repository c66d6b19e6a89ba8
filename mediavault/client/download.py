"""`mediavault download`: a media or a whole collection's originals into a folder, verified.

The server is not trusted with the folder: its names are made safe (names.py), and nothing there
is replaced unless asked. Each file is received under a temporary name beside its own and then
linked to its name only if that is still free, so a file that appears meanwhile is kept too.
"""

from __future__ import annotations

import errno
import os
import re
import secrets
import shutil
import stat
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mediavault.client.api import Api
from mediavault.client.errors import ApiError, ClientError, StorageRefused
from mediavault.client.hashing import sha256_file
from mediavault.client.library import UUID, find_collection
from mediavault.client.names import NAME_MAX, local_names, printable
from mediavault.client.progress import Display
from mediavault.client.transfer import CHUNK, Transfers

SHA256 = re.compile(r"[0-9a-f]{64}")
# link(2) fails so on file systems without hard links (FAT, some network shares).
_NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS,
                            errno.EMLINK, errno.EXDEV})  # fmt: skip


@dataclass(frozen=True)
class Fetched:
    """What became of one item."""

    name: str
    outcome: str  # downloaded | present | kept (not overwritten) | skipped | failed
    detail: str = ""


@dataclass(frozen=True)
class Original:
    """One item as the server describes it, checked field by field."""

    id: str
    filename: str
    size: int
    status: str
    sha256: str | None
    url: str | None

    @classmethod
    def of(cls, item: Any) -> Original:
        """The item, or ClientError when the server's answer is not a media."""
        urls = item.get("urls") if isinstance(item, dict) else None
        url = urls.get("original") if isinstance(urls, dict) else None
        try:
            original = cls(item["id"], item["filename"], item["size_bytes"], item["status"],
                           item.get("sha256"), url)  # fmt: skip
        except (KeyError, TypeError):
            original = None
        if original is None or not original._valid():
            shown = printable(repr(item))[:200]
            raise ClientError(f"the server sent something that is not a media: {shown}")
        return original

    def _valid(self) -> bool:
        return (
            isinstance(self.id, str) and UUID.fullmatch(self.id) is not None
            and isinstance(self.filename, str) and isinstance(self.status, str)
            and type(self.size) is int and self.size >= 0
            and (self.sha256 is None or (isinstance(self.sha256, str)
                                         and SHA256.fullmatch(self.sha256) is not None))
            and (self.url is None or isinstance(self.url, str))
        )  # fmt: skip


def items_of(api: Api, target: str) -> list[dict[str, Any]]:
    """The media a MEDIA or COLLECTION argument names: an id of either, or a collection's title."""
    if UUID.fullmatch(target):
        lookups: tuple[Callable[[], list[dict[str, Any]]], ...] = (
            lambda: [api.media(target)], lambda: _items(api.collection(target)),
        )  # fmt: skip
        for lookup in lookups:
            try:
                found = lookup()
            except ApiError as error:
                if error.status != 404:
                    raise
                continue
            return found
        raise ClientError(f"no media or collection has the id {target}")
    return _items(api.collection(str(find_collection(api, target)["id"])))


def _items(collection: dict[str, Any]) -> list[dict[str, Any]]:
    items = collection.get("items")
    if not isinstance(items, list):
        raise ClientError("the server sent a collection without a list of items")
    return items


class Downloader:
    """Fetches originals in parallel and checks each against its checksum."""

    def __init__(
        self,
        api: Api,
        transfers: Transfers,
        display: Display,
        concurrency: int,
        *,
        overwrite: bool = False,
    ) -> None:
        self.api = api
        self.transfers = transfers
        self.display = display
        self.concurrency = concurrency
        self.overwrite = overwrite
        self.stop = threading.Event()

    def run(self, items: list[dict[str, Any]], directory: Path) -> list[Fetched]:
        """Every item's outcome, in the collection's order."""
        originals = [Original.of(item) for item in items]
        _make_folder(directory)
        names = local_names(({"id": o.id, "filename": o.filename} for o in originals),
                            _name_max(directory))  # fmt: skip
        ready = [o for o in originals if o.url]
        self.display.start(len(originals), sum(o.size for o in ready), "received")
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="download") as pool:
            futures = [pool.submit(self._one, original, directory / name)
                       for original, name in zip(originals, names, strict=True)]  # fmt: skip
            try:
                results = [future.result() for future in futures]
            except BaseException:
                self.stop.set()
                self.transfers.stop.set()
                raise
        return results

    def _one(self, original: Original, target: Path) -> Fetched:
        fetched = self._fetch(original, target)
        self.display.finished(f"{fetched.outcome:<10} {fetched.name}" +
                              (f": {fetched.detail}" if fetched.detail else ""))  # fmt: skip
        return fetched

    def _fetch(self, original: Original, target: Path) -> Fetched:
        name = target.name
        if original.status != "ready" or not original.url:
            return Fetched(name, "skipped", f"not downloadable ({printable(original.status)})")
        try:
            found = self._in_the_way(original, target)
            if found is not None:
                self.display.drop(original.size)
                return found
            return self._receive(original, target)
        except ClientError as error:
            return Fetched(name, "failed", printable(str(error)))
        except OSError as error:
            return Fetched(name, "failed", f"cannot write it: {error.strerror or error}")

    def _in_the_way(self, original: Original, target: Path) -> Fetched | None:
        """What to report when the name is taken already (None when the download may go on)."""
        try:
            there = os.lstat(target)
        except FileNotFoundError:
            return None
        if stat.S_ISREG(there.st_mode) and _holds(target, original.size, original.sha256):
            return Fetched(target.name, "present")
        if not self.overwrite:
            return Fetched(
                target.name, "kept", "another file has this name (--overwrite replaces it)"
            )
        if stat.S_ISDIR(there.st_mode):
            return Fetched(target.name, "failed", "a folder has this name")
        return None

    def _receive(self, original: Original, target: Path) -> Fetched:
        """Download beside the target, check it, then give it its name."""
        name = target.name
        partial = target.with_name(f".mediavault-{secrets.token_hex(8)}.part")
        # Created, never opened as found: nothing already there (a link) is written through.
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        try:
            with os.fdopen(descriptor, "wb") as sink:
                received, digest = self._download(original, sink)
            expected = original.sha256
            if expected is not None and digest != expected:
                why = f"checksum mismatch: got {digest}, expected {expected}"
                return Fetched(name, "failed", why)
            if received != original.size:
                why = f"{received} bytes received, {original.size} expected"
                return Fetched(name, "failed", why)
            if self.overwrite:
                os.replace(partial, target)  # a link there is replaced itself, not written through
            elif not place(partial, target):
                return Fetched(name, "kept", "another file took this name meanwhile")
            return Fetched(name, "downloaded")
        finally:
            partial.unlink(missing_ok=True)

    def _download(self, original: Original, sink: BinaryIO) -> tuple[int, str]:
        assert original.url is not None
        try:
            return self.transfers.download(original.url, sink, original.size, self.display.moved)
        except StorageRefused as error:
            if error.status != 403:
                raise
        # Download URLs are short-lived: a long run asks for a fresh one.
        fresh = Original.of(self.api.media(original.id)).url
        if fresh is None:
            raise ClientError("it is not downloadable any more")
        return self.transfers.download(fresh, sink, original.size, self.display.moved)


def place(partial: Path, target: Path) -> bool:
    """Give a finished file its name unless the name is taken (False then): never a replace."""
    try:
        os.link(partial, target)
    except FileExistsError:
        return False
    except OSError as error:
        if error.errno not in _NO_HARD_LINKS:
            raise
        return _copy_exclusive(partial, target)
    partial.unlink()
    return True


def _copy_exclusive(partial: Path, target: Path) -> bool:
    """place() where hard links are not supported: a copy into a file created for it alone."""
    try:
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    except FileExistsError:
        return False
    try:
        with os.fdopen(descriptor, "wb") as out, partial.open("rb") as source:
            shutil.copyfileobj(source, out, CHUNK)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    partial.unlink()
    return True


def _make_folder(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise ClientError(f"{directory} is not a folder") from None
    except OSError as error:
        raise ClientError(f"cannot make the folder {directory}: {error.strerror}") from None


def _name_max(directory: Path) -> int:
    """The longest file name the folder's file system takes, at most NAME_MAX bytes."""
    try:
        return min(NAME_MAX, os.pathconf(directory, "PC_NAME_MAX"))
    except (AttributeError, OSError, ValueError):  # no pathconf (Windows), or no answer
        return NAME_MAX


def _holds(target: Path, size: int, sha256: str | None) -> bool:
    """True when the file is already there, byte for byte (a re-run downloads nothing twice)."""
    if sha256 is None or target.stat().st_size != size:
        return False
    return sha256_file(target, size) == sha256
