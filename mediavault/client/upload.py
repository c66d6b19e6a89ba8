"""`mediavault upload`: hash, skip what the server has, send the rest in parallel, resumably.

Files are hashed in order by a small pool while a larger pool uploads those already hashed, so
reading and the network overlap. Each upload is announced with its SHA-256: the server answers
with a duplicate, a presigned PUT or a multipart upload whose parts go out in parallel. Every
step is written to the resume state first, so that a run stopped anywhere is finished by the
next one without sending a file (or a part already stored) again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

from mediavault.client.api import Api, wait
from mediavault.client.errors import (
    ApiError,
    ClientError,
    FileChanged,
    Interrupted,
    RequestLost,
    StorageRefused,
)
from mediavault.client.files import LocalFile
from mediavault.client.hashing import sha256_file
from mediavault.client.progress import Display, human_bytes
from mediavault.client.sending import ByteCounter, SendingClock, send_part, unchanged
from mediavault.client.state import Hashed, Record, ResumeState
from mediavault.client.transfer import Transfers
from mediavault.client.twins import Twins

# An unfinished upload is resumed with its URLs while they stay valid this much longer; else
# with fresh ones for the same upload, and it starts over only when the server has it no more.
RESUME_MARGIN = timedelta(minutes=5)
# How far hashing may run ahead of the uploads: what was just read is still in the page cache
# when it is sent.
HASH_AHEAD_BYTES = 512 * 1024 * 1024
# Answers that mean "not this file, not here": nothing to retry.
REFUSING_STATUSES = frozenset({400, 403, 413, 415, 422})


class Outcome(StrEnum):
    """How one file ended."""

    UPLOADED = "uploaded"
    DUPLICATE = "duplicate"
    REFUSED = "refused"
    FAILED = "failed"
    PLANNED = "planned"  # --dry-run: would be uploaded


@dataclass
class Result:
    """One file's outcome."""

    file: LocalFile
    outcome: Outcome
    media_id: str | None = None
    detail: str = ""
    sent_bytes: int = 0
    resumed: bool = False


@dataclass(frozen=True)
class UploadOptions:
    """What `mediavault upload` was asked to do."""

    concurrency: int = 4
    hash_threads: int = 2
    tags: tuple[str, ...] = ()
    dry_run: bool = False
    keep_duplicates: bool = False


class Uploader:
    """Uploads a batch of local files; reusable parts are passed in."""

    def __init__(
        self,
        api: Api,
        transfers: Transfers,
        state: ResumeState,
        *,
        display: Display,
        options: UploadOptions,
        stop: threading.Event,
    ) -> None:
        self.api = api
        self.transfers = transfers
        self.state = state
        self.display = display
        self.options = options
        self.stop = stop
        self._lock = threading.Lock()
        self._names: dict[str, str] = {}  # media id -> name of the file this run sent there
        self._files: list[LocalFile] = []
        self._twins = Twins()
        self.clock = SendingClock()
        self._ahead = threading.Condition()
        self._ahead_bytes = 0  # hashed, not uploaded yet
        self._parts = ThreadPoolExecutor(options.concurrency, thread_name_prefix="part")

    def run(self, files: list[LocalFile]) -> tuple[list[Result], bool]:
        """The outcome of every file done, in the order given, and whether the run was stopped.

        Ctrl-C stops it between two chunks: what was stored stays recorded for the next run.
        """
        accepted = [file for file in files if file.refusal is None]
        results: dict[int, Result] = {
            index: Result(file, Outcome.REFUSED, detail=file.refusal or "")
            for index, file in enumerate(files)
            if file.refusal is not None
        }
        self._files = files
        self._twins = Twins(i for i, file in enumerate(files) if file.refusal is not None)
        self.display.start(len(accepted), sum(file.size for file in accepted), "sent")
        for result in results.values():
            self.display.note(_line(result))
        hashers = ThreadPoolExecutor(self.options.hash_threads, thread_name_prefix="hash")
        uploaders = ThreadPoolExecutor(self.options.concurrency, thread_name_prefix="upload")
        try:
            hashes = {index: hashers.submit(self._hash, index, file)
                      for index, file in enumerate(files) if file.refusal is None}  # fmt: skip
            running = {uploaders.submit(self._one, index, hashed): index
                       for index, hashed in hashes.items()}  # fmt: skip
            pending = set(running)
            while pending and not self.stop.is_set():
                done, pending = wait_for(pending, timeout=0.5)
                for future in done:
                    try:
                        result = future.result()
                    except Interrupted:
                        continue
                    results[running[future]] = result
                    self.display.finished(_line(result))
        except KeyboardInterrupt:
            self.stop.set()
        finally:
            for pool in (uploaders, hashers, self._parts):
                pool.shutdown(wait=True, cancel_futures=True)
        return [results[index] for index in sorted(results)], self.stop.is_set()

    def _hash(self, index: int, file: LocalFile) -> Hashed:
        digest = None
        try:
            with self._ahead:
                while self._ahead_bytes and self._ahead_bytes + file.size > HASH_AHEAD_BYTES:
                    if self.stop.is_set():
                        raise Interrupted("stopped")
                    self._ahead.wait(0.5)
                self._ahead_bytes += file.size
            try:
                digest = sha256_file(file.path, file.size, self.display.hashed, self.stop)
            except BaseException:
                self._uploaded(file)
                raise
        finally:
            self._twins.hashed(index, digest)
        return Hashed(file, digest)

    def _uploaded(self, file: LocalFile) -> None:
        """The file is done with: hashing may read further ahead."""
        with self._ahead:
            self._ahead_bytes -= file.size
            self._ahead.notify_all()

    def _one(self, index: int, hashed: Future[Hashed]) -> Result:
        file = self._files[index]
        counter = ByteCounter(self.display, self.clock)
        result, item = None, None
        try:
            item = hashed.result()
            first = self._twins.first(index, item.sha256, self.stop)
            if first != index:
                result = self._twin(item, first)
            if result is None:
                result = self._upload(item, counter)
        except (Interrupted, KeyboardInterrupt):
            raise
        except ApiError as error:
            outcome = Outcome.REFUSED if error.status in REFUSING_STATUSES else Outcome.FAILED
            result = Result(file, outcome, detail=error.message)
        except StorageRefused as error:
            detail = str(error)
            if error.status == 400 and "Checksum" in error.message:
                detail = "the file changed after it was hashed; run again to send it as it is now"
                self._give_up(item)
            result = Result(file, Outcome.FAILED, detail=detail)
        except FileChanged as error:
            self._give_up(item)
            result = Result(file, Outcome.FAILED, detail=str(error))
        except ClientError as error:  # Unreachable
            result = Result(file, Outcome.FAILED, detail=str(error))
        except OSError as error:
            result = Result(file, Outcome.FAILED, detail=f"cannot read the file: {error}")
        finally:
            if item is not None:
                self._uploaded(file)
            kept = result is not None and result.outcome in (Outcome.UPLOADED, Outcome.DUPLICATE)
            self._twins.finish(index, result.media_id if result and kept else None)
        # What was not sent (a duplicate, parts stored by an earlier run) leaves the total.
        self.display.drop(file.size - counter.total)
        result.sent_bytes = counter.total
        return result

    def _give_up(self, item: Hashed | None) -> None:
        """Abort the upload of bytes that are not the file's any more; the next run starts anew."""
        if item is None:
            return  # it changed while it was hashed: nothing was started
        record = self.state.get(item)
        if record is not None and record.media_id is not None and record.phase != "done":
            self.api.abort_upload(record.media_id)
        self.state.forget_upload(item)

    def _twin(self, item: Hashed, first: int) -> Result | None:
        """A file with the same bytes as an earlier one of the batch: a duplicate of its upload."""
        file, name = item.file, self._files[first].name
        if self.options.dry_run:
            return Result(file, Outcome.DUPLICATE, detail=f"same file as {name}")
        media_id = self._twins.media_of(first, self.stop)
        if media_id is None:
            return None  # the first one did not make it: this one is sent instead
        self.state.done(item, media_id)
        self._tag(media_id, existing=True)
        return Result(file, Outcome.DUPLICATE, media_id, f"same file as {name}")

    def _upload(self, item: Hashed, counter: ByteCounter) -> Result:
        file = item.file
        if self.options.dry_run:
            return Result(file, Outcome.PLANNED)
        for stale in self.state.hashed(item):
            self.api.abort_upload(stale)  # an upload of what the file held before: never finished
        record = self.state.get(item)
        if record is not None and record.phase in ("started", "sent") and record.upload:
            resumed = self._resume(item, record, counter)
            if resumed is not None:
                return resumed
        answer = self._announce(item, record)
        duplicate = answer.get("duplicate_of")
        if duplicate is not None:
            self.state.done(item, str(duplicate))
            self._tag(str(duplicate), existing=True)
            return Result(file, Outcome.DUPLICATE, str(duplicate), self._same_as(str(duplicate)))
        media_id = str(answer["media_id"])
        with self._lock:
            self._names[media_id] = file.name
        self.state.started(item, media_id, answer)
        self._tag(media_id, existing=False)
        self._send(item, answer, {}, counter)
        return Result(file, Outcome.UPLOADED, media_id)

    def _announce(self, item: Hashed, record: Record | None) -> dict[str, Any]:
        """POST /api/uploads; an orphan of an earlier, unanswered request is given up first."""
        file = item.file
        body: dict[str, object] = {"filename": file.path.name, "content_type": file.content_type,
                                   "size_bytes": file.size, "sha256": item.sha256}  # fmt: skip
        if self.options.keep_duplicates:
            body["keep_duplicate"] = True
        unanswered = record is not None and record.phase == "starting"
        self.state.starting(item)
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = self.api.start_upload(body, resend=False)
            except RequestLost:
                # It may have been taken: its upload would be a pending duplicate of this file.
                unanswered = True
                if attempt >= self.api.retry.attempts:
                    raise
                wait(self.stop, self.api.retry.delay(attempt))
                continue
            duplicate = answer.get("duplicate_of")
            if duplicate is None or not unanswered or self._is_ours(str(duplicate)):
                return answer
            if self.api.media(str(duplicate))["status"] != "pending":
                return answer
            self.api.abort_upload(str(duplicate))
            unanswered = False

    def _is_ours(self, media_id: str) -> bool:
        with self._lock:
            return media_id in self._names

    def _same_as(self, media_id: str) -> str:
        with self._lock:
            name = self._names.get(media_id)
        return "already in the vault" if name is None else f"same file as {name}"

    def _tag(self, media_id: str, *, existing: bool) -> None:
        wanted = list(self.options.tags)
        if not wanted:
            return
        if existing:
            have = list(self.api.media(media_id)["tags"])
            known = {tag.lower() for tag in have}
            if all(tag.lower() in known for tag in wanted):
                return
            wanted = have + wanted
        self.api.update_media(media_id, {"tags": wanted})

    def _resume(self, item: Hashed, record: Record, counter: ByteCounter) -> Result | None:
        """Finish an earlier run's upload; None when it had to be given up (start afresh)."""
        assert record.upload is not None
        assert record.media_id is not None
        file, upload, media_id = item.file, record.upload, record.media_id
        with self._lock:
            self._names[media_id] = file.name
        try:
            if record.phase == "sent":
                self._complete(item, media_id, upload, record.parts)
                return Result(file, Outcome.UPLOADED, media_id, "resumed", resumed=True)
            expires = datetime.fromisoformat(str(upload["expires_at"]))
            expired = expires - datetime.now(UTC) <= RESUME_MARGIN
            fresh = self._refresh(item, media_id) if expired else upload
            if fresh is not None:
                self._send(item, fresh, record.parts, counter)
                return Result(file, Outcome.UPLOADED, media_id, "resumed", resumed=True)
        except ApiError as error:
            if error.status != 404:  # 404: the server gave it up itself
                raise
            self.state.forget_upload(item)
            return None
        except StorageRefused as error:
            if error.status not in (403, 404):  # expired URLs, or an upload aborted meanwhile
                raise
        self.api.abort_upload(media_id)
        self.state.forget_upload(item)
        return None

    def _refresh(self, item: Hashed, media_id: str) -> dict[str, Any] | None:
        """The recorded upload with fresh URLs (its first ones ran out); None once it is gone."""
        # The parts already stored stay recorded: an upload left overnight goes on where it was.
        try:
            upload = self.api.upload_urls(media_id)
        except ApiError as error:
            if error.status != 404:
                raise
            return None  # given up or finished meanwhile: the caller sends it again
        self.state.refreshed(item, upload)
        return upload

    def _send(
        self, item: Hashed, upload: dict[str, Any], done: dict[int, str], counter: ByteCounter
    ) -> None:
        """The bytes (parts not yet stored, in parallel), then `complete`."""
        file = item.file
        unchanged(file)
        media_id = str(upload["media_id"])
        parts = dict(done)
        if "parts" in upload:
            checksums = upload.get("checksum_algorithm") == "SHA256"
            futures = [
                self._parts.submit(self._part, item, upload, part, checksums, counter)
                for part in upload["parts"]
                if part["part_number"] not in done
            ]
            try:
                for future in futures:
                    number, etag = future.result()
                    parts[number] = etag
            except BaseException:
                for future in futures:
                    future.cancel()
                raise
        else:
            self.transfers.put_file(upload["url"], upload["headers"], file.path, file.size, counter)
        self.state.sent(item)
        self._complete(item, media_id, upload, parts)

    def _part(
        self,
        item: Hashed,
        upload: dict[str, Any],
        part: dict[str, Any],
        checksums: bool,
        counter: Callable[[int], None],
    ) -> tuple[int, str]:
        number, etag = send_part(self.transfers, item.file.path, int(upload["part_size"]), part,
                                 checksums=checksums, progress=counter)  # fmt: skip
        self.state.part_sent(item, number, etag)
        return number, etag

    def _complete(
        self, item: Hashed, media_id: str, upload: dict[str, Any], parts: dict[int, str]
    ) -> None:
        listed = None
        if "parts" in upload:
            listed = [{"part_number": n, "etag": parts[n]} for n in sorted(parts)]
        self.api.complete_upload(media_id, listed)
        self.state.done(item, media_id)


def _line(result: Result) -> str:
    """One line about a file's outcome."""
    name = result.file.name
    match result.outcome:
        case Outcome.UPLOADED:
            how = " (resumed)" if result.resumed else ""
            return f"uploaded   {name} ({human_bytes(result.file.size)}){how}"
        case Outcome.DUPLICATE:
            return f"duplicate  {name}: {result.detail}"
        case Outcome.PLANNED:
            return f"would send {name} ({human_bytes(result.file.size)})"
        case _:
            return f"{result.outcome.value:<10} {name}: {result.detail}"
