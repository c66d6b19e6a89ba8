"""Bytes to and from storage through presigned URLs: retried, throttled, counted.

The API's token is never sent here: a presigned URL carries its own authorisation.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import BinaryIO

import httpx

from mediavault.client.api import TRANSIENT_STATUSES, USER_AGENT, RetryPolicy, retry_after, wait
from mediavault.client.errors import (
    ClientError,
    FileChanged,
    Interrupted,
    StorageRefused,
    Unreachable,
)

CHUNK = 1024 * 1024
Progress = Callable[[int], None]


class RateLimit:
    """A token bucket shared by every transfer: at most `rate` bytes a second overall."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._lock = threading.Lock()
        self._allowed_at = time.monotonic()

    def take(self, count: int) -> None:
        """Block until `count` more bytes may go."""
        with self._lock:
            now = time.monotonic()
            self._allowed_at = max(self._allowed_at, now - 1.0) + count / self.rate
            delay = self._allowed_at - now
        if delay > 0:
            time.sleep(delay)


class Transfers:
    """PUTs and GETs of presigned URLs, on one pool of connections."""

    def __init__(
        self,
        *,
        retry: RetryPolicy | None = None,
        stop: threading.Event | None = None,
        rate_limit: RateLimit | None = None,
        connections: int = 16,
        timeout: float = 120.0,
    ) -> None:
        self.retry = retry or RetryPolicy()
        self.stop = stop or threading.Event()
        self.rate_limit = rate_limit
        self._http = httpx.Client(
            timeout=timeout,
            headers={"User-Agent": USER_AGENT},
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    def put_file(
        self, url: str, headers: Mapping[str, str], path: Path, size: int, progress: Progress
    ) -> str:
        """PUT a whole file, streamed; its ETag."""
        return self._put(url, dict(headers), size, lambda: self._file_chunks(path, size), progress)

    def put_bytes(
        self, url: str, headers: Mapping[str, str], data: bytes, progress: Progress
    ) -> str:
        """PUT bytes held in memory (a part); its ETag."""
        view = memoryview(data)

        def chunks() -> Iterator[bytes]:
            return (bytes(view[i : i + CHUNK]) for i in range(0, len(data), CHUNK))

        return self._put(url, dict(headers), len(data), chunks, progress)

    def _put(
        self,
        url: str,
        headers: dict[str, str],
        size: int,
        chunks: Callable[[], Iterator[bytes]],
        progress: Progress,
    ) -> str:
        # The signed Content-Length: sent as such, never chunked.
        headers["Content-Length"] = str(size)
        attempt = 0
        while True:
            attempt += 1
            sent = 0

            def counted() -> Iterator[bytes]:
                nonlocal sent
                for chunk in chunks():
                    if self.stop.is_set():
                        raise Interrupted("stopped")
                    if self.rate_limit is not None:
                        self.rate_limit.take(len(chunk))
                    yield chunk
                    sent += len(chunk)
                    progress(len(chunk))

            try:
                response = self._http.put(url, content=counted(), headers=headers)
            except httpx.TransportError as error:
                progress(-sent)
                if attempt >= self.retry.attempts:
                    raise Unreachable(f"storage did not take the bytes: {error!r}") from error
                wait(self.stop, self.retry.delay(attempt))
                continue
            if response.status_code == 200:
                return str(response.headers.get("ETag", "")).strip('"')
            progress(-sent)
            if response.status_code in TRANSIENT_STATUSES | {500} and attempt < self.retry.attempts:
                wait(self.stop, self.retry.delay(attempt, retry_after(response)))
                continue
            raise StorageRefused(response.status_code, _s3_message(response))

    @staticmethod
    def _file_chunks(path: Path, size: int) -> Iterator[bytes]:
        with path.open("rb") as file:
            remaining = size
            while remaining > 0:
                chunk = file.read(min(CHUNK, remaining))
                if not chunk:
                    raise FileChanged(f"{path} became shorter while it was uploaded")
                remaining -= len(chunk)
                yield chunk

    def download(self, url: str, sink: BinaryIO, limit: int, progress: Progress) -> tuple[int, str]:
        """GET a URL into an open file, rewritten from its start on a retry; its size and SHA-256.

        More than `limit` bytes is refused: a server cannot fill the disk by understating a size.
        """
        attempt = 0
        while True:
            attempt += 1
            received = 0
            digest = hashlib.sha256()
            sink.seek(0)
            sink.truncate()
            try:
                with self._http.stream("GET", url) as response:
                    if response.status_code != 200:
                        response.read()
                        if response.status_code in TRANSIENT_STATUSES | {500} and (
                            attempt < self.retry.attempts
                        ):
                            wait(self.stop, self.retry.delay(attempt, retry_after(response)))
                            continue
                        raise StorageRefused(response.status_code, _s3_message(response))
                    for chunk in response.iter_bytes(CHUNK):
                        if self.stop.is_set():
                            raise Interrupted("stopped")
                        if received + len(chunk) > limit:
                            progress(-received)
                            raise ClientError(f"storage sent more than the {limit} bytes announced")
                        sink.write(chunk)
                        digest.update(chunk)
                        received += len(chunk)
                        progress(len(chunk))
            except httpx.TransportError as error:
                progress(-received)
                if attempt >= self.retry.attempts:
                    raise Unreachable(f"storage did not send the file: {error!r}") from error
                wait(self.stop, self.retry.delay(attempt))
                continue
            sink.flush()
            return received, digest.hexdigest()


def _s3_message(response: httpx.Response) -> str:
    """S3's error code and message from its XML body, or the status line."""
    text = response.text
    code = re.search(r"<Code>([^<]*)</Code>", text)
    message = re.search(r"<Message>([^<]*)</Message>", text)
    if code and message:
        return f"{code.group(1)}: {message.group(1)}"
    return response.reason_phrase or str(response.status_code)
