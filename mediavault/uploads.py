"""Starting, re-signing, completing and aborting uploads: checks, the pending row, signed URLs."""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from mediavault.checksums import (
    CHECKSUM_ALGORITHM,
    find_duplicate,
    parse_sha256,
    to_base64,
)
from mediavault.errors import (
    BadRequest,
    Conflict,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    UnsupportedMediaType,
)
from mediavault.mediatypes import announced_format, kind_of
from mediavault.schemas import MAX_PARTS
from mediavault.storage import upload_key
from mediavault.text import clean_text

if TYPE_CHECKING:
    from mediavault.config import Settings, UploadSettings
    from mediavault.db import DictConnection, Pool
    from mediavault.schemas import (
        CompletedPart,
        DuplicateUpload,
        MultipartUpload,
        Upload,
        UploadCompletion,
        UploadPart,
    )
    from mediavault.schemas import UploadRequest as UploadBody
    from mediavault.storage import Storage

_CONTENT_TYPE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}")


@dataclass(frozen=True)
class UploadRequest:
    """A validated `POST /api/uploads` body."""

    filename: str
    content_type: str
    size_bytes: int
    title: str | None
    sha256: str | None = None  # of the whole file, hex: checked by storage and by the worker
    keep_duplicate: bool = False  # upload even when the user already has these bytes

    @property
    def kind(self) -> str:
        """video, image or audio, from the announced type (the worker checks the bytes)."""
        return kind_of(self.content_type)


def parse_upload_request(body: UploadBody, limits: UploadSettings) -> UploadRequest:
    """Check name, type and size against the rules and limits; 400, 413 or 415 with the reason."""
    filename = clean_text(body.filename, "filename", 255, required=True, code="invalid_filename")
    assert filename is not None
    if set(filename) <= {"."} or "/" in filename or "\\" in filename:
        raise BadRequest("filename must be a file's name, not a path", code="invalid_filename")
    content_type = body.content_type.split(";", 1)[0].strip().lower()
    if not _CONTENT_TYPE.fullmatch(content_type):
        raise BadRequest("content_type is not a media type")
    # The format table is the allow-list; ALLOWED_CONTENT_TYPES can only narrow it.
    if announced_format(content_type) is None or not any(
        _type_allowed(content_type, pattern) for pattern in limits.allowed_content_types
    ):
        raise UnsupportedMediaType(f"{content_type} uploads are not allowed here")
    size = body.size_bytes
    if size > limits.max_upload_bytes:
        raise PayloadTooLarge(f"files may be at most {limits.max_upload_bytes} bytes")
    title = clean_text(body.title, "title", 200)
    sha256 = parse_sha256(body.sha256)
    return UploadRequest(filename, content_type, size, title, sha256, body.keep_duplicate)


def _type_allowed(content_type: str, pattern: str) -> bool:
    pattern = pattern.lower()
    if pattern.endswith("/*"):
        return content_type.startswith(pattern[:-1])
    return content_type == pattern


def part_size_for(size: int, preferred: int) -> int:
    """The preferred part size, grown in whole MiB when the file would need over 10,000 parts."""
    mib = 1024 * 1024
    needed = math.ceil(size / MAX_PARTS)
    return max(preferred, math.ceil(needed / mib) * mib)


def start_upload(
    settings: Settings, pool: Pool, storage: Storage, owner_id: str, upload: UploadRequest
) -> Upload | MultipartUpload | DuplicateUpload:
    """Insert the pending media row and hand out a presigned PUT, or a multipart upload.

    When the user already has a file with that checksum, only `{"duplicate_of": id}` comes
    back, unless they asked to keep a copy.
    """
    media_id = str(uuid.uuid4())
    key = upload_key(media_id)
    multipart = upload.size_bytes > settings.uploads.multipart_threshold_bytes
    with pool.connection() as conn, conn.transaction():
        # Serialise one user's concurrent uploads so two of them cannot both squeeze under a
        # limit, nor both start the same file.
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (owner_id,))
        if upload.sha256 is not None and not upload.keep_duplicate:
            duplicate = find_duplicate(conn, owner_id, upload.sha256)
            if duplicate is not None:
                return {"duplicate_of": duplicate}
        _check_quota(conn, owner_id, upload.size_bytes, settings.uploads.user_quota_bytes)
        _check_pace(conn, owner_id, settings.uploads)
        conn.execute(
            "INSERT INTO media (id, owner_id, title, filename, content_type, kind,"
            " size_bytes, upload_key, announced_sha256)"
            " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            (media_id, owner_id, upload.title, upload.filename, upload.content_type,
             upload.kind, upload.size_bytes, key, upload.sha256),
        )  # fmt: skip
    target = _Target(media_id, key, upload.content_type, upload.size_bytes, upload.sha256)
    if not multipart:
        return _presigned(settings, storage, target)
    try:
        upload_id = storage.start_multipart(
            key, upload.content_type, checksums=upload.sha256 is not None
        )
        with pool.connection() as conn:
            conn.execute("UPDATE media SET upload_id = %s WHERE id = %s", (upload_id, media_id))
    except Exception:
        with pool.connection() as conn:
            conn.execute("DELETE FROM media WHERE id = %s", (media_id,))
        raise
    return _presigned(settings, storage, target, upload_id)


@dataclass(frozen=True)
class _Target:
    """Where an upload's bytes go and what they must be: what its URLs are signed for."""

    media_id: str
    key: str
    content_type: str
    size_bytes: int
    sha256: str | None


def _presigned(
    settings: Settings,
    storage: Storage,
    target: _Target,
    upload_id: str | None = None,
    only: set[int] | None = None,
) -> Upload | MultipartUpload:
    """A presigned PUT, or the part URLs (all, or those in `only`) of a multipart upload."""
    # Every URL fixes what may be sent to it: storage refuses another size or type, and other
    # bytes than an announced checksum's.
    expires_seconds = settings.storage.presign_expiry_seconds
    # Taken before signing, so that it is never later than the URLs' own expiry.
    expires_at = datetime.now(UTC) + timedelta(seconds=expires_seconds)
    if upload_id is None:
        checksum = None if target.sha256 is None else to_base64(target.sha256)
        url, headers = storage.presign_put(
            target.key, target.content_type, target.size_bytes, expires_seconds,
            sha256_b64=checksum,
        )  # fmt: skip
        return {
            "media_id": target.media_id,
            "method": "PUT",
            "url": url,
            "headers": headers,
            "expires_at": expires_at,
        }
    part_size = _part_size(settings, target.size_bytes)
    parts: list[UploadPart] = [
        {
            "part_number": number,
            "size": size,
            "url": storage.presign_upload_part(
                target.key, upload_id, number, size, expires_seconds
            ),
        }
        for number, size in part_sizes(target.size_bytes, part_size)
        if only is None or number in only
    ]
    answer: MultipartUpload = {
        "media_id": target.media_id,
        "upload_id": upload_id,
        "part_size": part_size,
        "parts": parts,
        "expires_at": expires_at,
    }
    if target.sha256 is not None:
        # Each part's PUT must carry x-amz-checksum-sha256 (its own SHA-256, base64): storage
        # refuses a part without it or with other bytes (the upload was started so).
        answer["checksum_algorithm"] = CHECKSUM_ALGORITHM
    return answer


def upload_urls(
    settings: Settings,
    pool: Pool,
    storage: Storage,
    owner_id: str,
    media_id: str,
    *,
    parts: list[int] | None = None,
) -> Upload | MultipartUpload:
    """Fresh URLs for an upload still being sent, in `start_upload`'s shape; 404 once done."""
    # An interrupted upload is resumed with these once its first URLs have expired, rather than
    # sent again whole; `parts` keeps the answer of a very large upload to what is missing.
    with pool.connection() as conn, conn.transaction():
        row = _pending_upload(conn, owner_id, media_id)
        if row["status"] != "pending" or row["upload_key"] is None:
            raise NotFound("no such upload")
        key, upload_id = row["upload_key"], row["upload_id"]
        # Without an upload id it is a single PUT, or a multipart upload already assembled: in
        # both cases, once the object is there nothing is left to send (complete it instead).
        if upload_id is None and storage.stat(key) is not None:
            raise NotFound("no such upload")
    target = _Target(
        media_id, key, row["content_type"], int(row["size_bytes"]), row["announced_sha256"]
    )
    only = None
    if parts is not None:
        if upload_id is None:
            raise BadRequest("a single PUT upload has no parts")
        count = len(part_sizes(target.size_bytes, _part_size(settings, target.size_bytes)))
        only = set(parts)
        if len(only) != len(parts) or not only <= set(range(1, count + 1)):
            raise BadRequest(f"this upload has parts 1 to {count}; list each at most once")
    return _presigned(settings, storage, target, upload_id, only)


def _part_size(settings: Settings, size: int) -> int:
    return part_size_for(size, settings.uploads.multipart_part_size_bytes)


def part_sizes(size: int, part_size: int) -> list[tuple[int, int]]:
    """(part number, exact byte count) of each part: full parts, then the remainder."""
    count = math.ceil(size / part_size)
    return [(n, min(part_size, size - (n - 1) * part_size)) for n in range(1, count + 1)]


def _check_quota(conn: DictConnection, owner_id: str, size: int, quota: int) -> None:
    if quota <= 0:
        return
    row = conn.execute(
        # Refused uploads hold no bytes (their keys are cleared when their bytes are removed).
        "SELECT coalesce(sum(size_bytes), 0) AS used FROM media WHERE owner_id = %s"
        " AND coalesce(upload_key, original_key) IS NOT NULL",
        (owner_id,),
    ).fetchone()
    used = int(row["used"]) if row else 0
    if used + size > quota:
        raise PayloadTooLarge(
            f"this upload would exceed your storage quota ({used} of {quota} bytes used)",
            code="quota_exceeded",
        )


def _check_pace(conn: DictConnection, owner_id: str, limits: UploadSettings) -> None:
    """At most so many unfinished uploads per user, and so many new ones a minute."""
    row = conn.execute(
        "SELECT count(*) FILTER (WHERE status = 'pending') AS pending,"
        " count(*) FILTER (WHERE created_at > now() - interval '1 minute') AS recent"
        " FROM media WHERE owner_id = %s"
        " AND (status = 'pending' OR created_at > now() - interval '1 minute')",
        (owner_id,),
    ).fetchone()
    assert row is not None
    if row["pending"] >= limits.max_pending_per_user:
        raise TooManyRequests(
            f"{row['pending']} uploads are unfinished; finish or cancel some first",
            retry_after=60,
            code="too_many_pending_uploads",
        )
    if row["recent"] >= limits.per_user_per_minute:
        raise TooManyRequests(
            f"at most {limits.per_user_per_minute} uploads a minute; slow down",
            retry_after=60,
            code="upload_rate_limited",
        )


def _pending_upload(conn: DictConnection, owner_id: str, media_id: str) -> dict[str, Any]:
    row = conn.execute(
        "SELECT id, upload_key, upload_id, status, size_bytes, content_type, announced_sha256"
        " FROM media"
        " WHERE id = %s AND owner_id = %s FOR UPDATE",
        (media_id, owner_id),
    ).fetchone()
    if row is None:
        raise NotFound("no such upload")
    return row


def complete_upload(
    settings: Settings,
    pool: Pool,
    storage: Storage,
    owner_id: str,
    media_id: str,
    *,
    body: UploadCompletion | None,
) -> bool:
    """Finish an upload: assemble a multipart one, or confirm a single PUT arrived whole.

    True when the media still waits for processing (the caller then enqueues it at once rather
    than wait for MinIO's event, which its queue_dir store holds for up to a few seconds).
    """
    with pool.connection() as conn, conn.transaction():
        row = _pending_upload(conn, owner_id, media_id)
        if row["status"] != "pending" or row["upload_key"] is None:
            return False
        key, size = row["upload_key"], int(row["size_bytes"])
        if row["upload_id"] is not None:
            if body is None:
                raise BadRequest("a multipart upload completes with its parts")
            parts = _check_parts(body.parts)
            expected = len(part_sizes(size, _part_size(settings, size)))
            if [number for number, _ in parts] != list(range(1, expected + 1)):
                raise BadRequest(f"this upload has parts 1 to {expected}; list each once")
            storage.complete_multipart(
                key, row["upload_id"], parts, checksums=row["announced_sha256"] is not None
            )
            conn.execute(
                "UPDATE media SET upload_id = NULL, updated_at = now() WHERE id = %s", (media_id,)
            )
        stored = storage.stat(key)
        if stored is None:
            raise Conflict("the file has not arrived yet; PUT it first", code="upload_incomplete")
        if stored.size != size:
            # Storage enforces the signed sizes; this guards against a misconfigured one.
            storage.remove([key])
            raise Conflict(
                f"{stored.size} bytes arrived but {size} were announced; upload again",
                code="size_mismatch",
            )
        conn.execute(
            "UPDATE media SET bytes_stored_at = coalesce(bytes_stored_at, now()) WHERE id = %s",
            (media_id,),
        )
    return True


def _check_parts(given: list[CompletedPart]) -> list[tuple[int, str]]:
    parts = [(part.part_number, part.etag) for part in given]
    numbers = [number for number, _ in parts]
    if numbers != sorted(set(numbers)):
        raise BadRequest("parts must be in ascending part_number order, each once")
    return parts


def abort_upload(pool: Pool, storage: Storage, owner_id: str, media_id: str) -> None:
    """Give up an upload not yet processed: its parts or object and its row go."""
    with pool.connection() as conn, conn.transaction():
        row = _pending_upload(conn, owner_id, media_id)
        if row["status"] != "pending":
            raise Conflict("the upload is finished; delete the media instead", code="not_pending")
        if row["upload_id"] is not None:
            storage.abort_multipart(row["upload_key"], row["upload_id"])
        storage.remove([row["upload_key"]])
        conn.execute("DELETE FROM media WHERE id = %s", (media_id,))
