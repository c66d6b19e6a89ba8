"""`mediavault download`: a media or a whole collection's originals into a folder, verified."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from mediavault.client.api import Api
from mediavault.client.errors import ApiError, ClientError, StorageRefused
from mediavault.client.hashing import sha256_file
from mediavault.client.library import UUID, find_collection
from mediavault.client.progress import Display
from mediavault.client.transfer import Transfers


@dataclass(frozen=True)
class Fetched:
    """What became of one item."""

    name: str
    outcome: str  # downloaded | present | skipped | failed
    detail: str = ""


def items_of(api: Api, target: str) -> list[dict[str, Any]]:
    """The media a MEDIA or COLLECTION argument names: an id of either, or a collection's title."""
    if UUID.fullmatch(target):
        for lookup in (lambda: [api.media(target)], lambda: api.collection(target)["items"]):
            try:
                found: list[dict[str, Any]] = lookup()
            except ApiError as error:
                if error.status != 404:
                    raise
                continue
            return found
        raise ClientError(f"no media or collection has the id {target}")
    return list(api.collection(find_collection(api, target)["id"])["items"])


def local_names(items: list[dict[str, Any]]) -> list[str]:
    """A safe, distinct file name for each item: its own, numbered when two are alike."""
    taken: set[str] = set()
    names = []
    for item in items:
        name = PurePath(str(item["filename"]).replace("\\", "/")).name
        if name in ("", ".", ".."):
            name = str(item["id"])
        stem, suffix = Path(name).stem, Path(name).suffix
        candidate, count = name, 1
        while candidate.lower() in taken:
            count += 1
            candidate = f"{stem} ({count}){suffix}"
        taken.add(candidate.lower())
        names.append(candidate)
    return names


class Downloader:
    """Fetches originals in parallel and checks each against its checksum."""

    def __init__(self, api: Api, transfers: Transfers, display: Display, concurrency: int) -> None:
        self.api = api
        self.transfers = transfers
        self.display = display
        self.concurrency = concurrency
        self.stop = threading.Event()

    def run(self, items: list[dict[str, Any]], directory: Path) -> list[Fetched]:
        """Every item's outcome, in the collection's order."""
        directory.mkdir(parents=True, exist_ok=True)
        names = local_names(items)
        ready = [item for item in items if item["urls"].get("original")]
        self.display.start(len(items), sum(int(item["size_bytes"]) for item in ready), "received")
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix="download") as pool:
            futures = [pool.submit(self._one, item, directory / name)
                       for item, name in zip(items, names, strict=True)]  # fmt: skip
            try:
                results = [future.result() for future in futures]
            except BaseException:
                self.stop.set()
                self.transfers.stop.set()
                raise
        return results

    def _one(self, item: dict[str, Any], target: Path) -> Fetched:
        fetched = self._fetch(item, target)
        self.display.finished(f"{fetched.outcome:<10} {fetched.name}" +
                              (f": {fetched.detail}" if fetched.detail else ""))  # fmt: skip
        return fetched

    def _fetch(self, item: dict[str, Any], target: Path) -> Fetched:
        name, size, expected = target.name, int(item["size_bytes"]), item.get("sha256")
        if item["status"] != "ready" or not item["urls"].get("original"):
            return Fetched(name, "skipped", f"not downloadable ({item['status']})")
        if _holds(target, size, expected):
            self.display.drop(size)
            return Fetched(name, "present")
        url = item["urls"]["original"]
        try:
            try:
                received, digest = self.transfers.download(url, target, self.display.moved)
            except StorageRefused as error:
                if error.status != 403:
                    raise
                # Download URLs are short-lived: a long run asks for a fresh one.
                fresh = self.api.media(str(item["id"]))["urls"]["original"]
                received, digest = self.transfers.download(fresh, target, self.display.moved)
        except ClientError as error:
            return Fetched(name, "failed", str(error))
        if expected is not None and digest != expected:
            target.unlink()
            return Fetched(name, "failed", f"checksum mismatch: got {digest}, expected {expected}")
        if received != size:
            return Fetched(name, "failed", f"{received} bytes received, {size} expected")
        return Fetched(name, "downloaded")


def _holds(target: Path, size: int, sha256: str | None) -> bool:
    """True when the file is already there, byte for byte (a re-run downloads nothing twice)."""
    if sha256 is None or not target.is_file() or target.stat().st_size != size:
        return False
    return sha256_file(target, size) == sha256
