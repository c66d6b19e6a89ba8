"""Object storage on MinIO: bucket set-up, upload notifications and presigned URLs."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import quote

from mediavault.errors import BadRequest, StorageError

if TYPE_CHECKING:
    from minio import Minio

    from mediavault.config import StorageSettings
    from mediavault.sigv4 import Signer

logger = logging.getLogger(__name__)
T = TypeVar("T")

UPLOADS_PREFIX = "uploads/"  # where browsers PUT; nothing is ever served from here
ORIGINALS_PREFIX = "originals/"
DERIVED_PREFIX = "derived/"
UPLOAD_EVENTS = ("s3:ObjectCreated:*",)
_PLAIN_KEY = re.compile(r"[A-Za-z0-9/_.~-]*")


class Storage:
    """Two clients: one for the internal endpoint, one that only signs URLs for browsers.

    Both are made on first use: the minio package is the heaviest import of a function, and
    /healthz (the first request after a cold start) does not need it.
    """

    def __init__(self, settings: StorageSettings) -> None:
        self.settings = settings

    @classmethod
    def from_settings(cls, settings: StorageSettings) -> Storage:
        """Storage over the configured endpoints; no network call and no client is made here."""
        return cls(settings)

    @cached_property
    def client(self) -> Minio:
        """The client for the internal endpoint."""
        from minio import Minio

        from mediavault.s3http import pool_manager

        return Minio(
            self.settings.endpoint,
            access_key=self.settings.access_key,
            secret_key=self.settings.secret_key,
            secure=self.settings.use_ssl,
            region=self.settings.region,
            # Bounded connect and read, retries within S3_CALL_DEADLINE_SECONDS (never minutes).
            http_client=pool_manager(self.settings),
        )

    @cached_property
    def signer(self) -> Signer:
        """What URLs for browsers are signed with; signing makes no network call."""
        from mediavault.sigv4 import Credentials, Signer

        settings = self.settings
        return Signer(Credentials(settings.access_key, settings.secret_key, settings.region))

    @cached_property
    def _public_origin(self) -> str:
        # Signing covers the Host header, so URLs for browsers are signed for the public host.
        return self.settings.public_url.rstrip("/")

    def _public_path(self, key: str) -> str:
        # Server-made keys need no escaping; quote() is the slow part of a page of URLs.
        escaped = key if _PLAIN_KEY.fullmatch(key) else quote(key, safe="/-_.~")
        return f"/{self.bucket}/{escaped}"

    def _presign(
        self,
        method: str,
        key: str,
        expires_seconds: int | None,
        headers: dict[str, str] | None = None,
        query: dict[str, str] | None = None,
    ) -> str:
        return self.signer.presign(
            method,
            self._public_origin,
            self._public_path(key),
            expires_seconds=int(self._expiry(expires_seconds).total_seconds()),
            signed_headers=headers,
            query=query,
        )

    @property
    def bucket(self) -> str:
        """The one bucket MediaVault uses."""
        return self.settings.bucket

    def ensure_bucket(self) -> bool:
        """Create the bucket if missing; True when it was created."""
        from minio.error import S3Error

        try:
            if self.client.bucket_exists(self.bucket):
                return False
            self.client.make_bucket(self.bucket, location=self.settings.region)
        except S3Error as error:
            if error.code in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                return False
            raise StorageError(f"cannot create bucket {self.bucket!r}: {error.code}") from error
        logger.info("created bucket %s", self.bucket)
        return True

    def configure_upload_notification(self) -> None:
        """Publish s3:ObjectCreated:* under uploads/ to MinIO's NSQ target (idempotent)."""
        from minio.error import S3Error
        from minio.notificationconfig import NotificationConfig, PrefixFilterRule, QueueConfig

        wanted = QueueConfig(
            queue=self.settings.notify_arn,
            events=list(UPLOAD_EVENTS),
            config_id="mediavault-uploads",
            prefix_filter_rule=PrefixFilterRule(UPLOADS_PREFIX),
        )
        try:
            current = self.client.get_bucket_notification(self.bucket)
            others = [q for q in current.queue_config_list if q.config_id != wanted.config_id]
            self.client.set_bucket_notification(
                self.bucket,
                NotificationConfig(
                    cloud_func_config_list=current.cloud_func_config_list,
                    queue_config_list=[*others, wanted],
                    topic_config_list=current.topic_config_list,
                ),
            )
        except S3Error as error:
            raise StorageError(
                f"cannot set the upload notification to {self.settings.notify_arn}: "
                f"{error.code} {error.message} (is MINIO_NOTIFY_NSQ_* set on the MinIO server?)"
            ) from error
        logger.info("upload notification set: %s -> %s", UPLOADS_PREFIX, wanted.queue)

    def presign_put(
        self,
        key: str,
        content_type: str,
        size: int,
        expires_seconds: int | None = None,
        sha256_b64: str | None = None,
    ) -> tuple[str, dict[str, str]]:
        """A URL to PUT exactly `size` bytes of `content_type` to, and the headers to send.

        Content-Length and Content-Type are signed, so storage refuses other sizes and types;
        with a checksum it also refuses other bytes.
        """
        headers = {"Content-Type": content_type}
        if sha256_b64 is not None:
            headers["x-amz-checksum-sha256"] = sha256_b64
        signed = {**headers, "Content-Length": str(size)}
        return self._presign("PUT", key, expires_seconds, signed), headers

    def presign_get(
        self,
        key: str,
        content_type: str,
        expires_seconds: int | None = None,
        download_name: str | None = None,
    ) -> str:
        """A short-lived URL to GET the object, served as `content_type` whatever it was stored as.

        With a download name the browser saves the file instead of showing it. The URL is valid
        for `expires_seconds` at least and for up to DOWNLOAD_URL_REUSE_SECONDS more.
        """
        query = {"response-content-type": content_type}
        if download_name is not None:
            query["response-content-disposition"] = _attachment(download_name)
        # Dated at the start of a reuse window: the same URL all through it, so that a browser
        # shows a thumbnail from its cache instead of fetching it again for every new page.
        return self.signer.presign_reusable(
            "GET",
            self._public_origin,
            self._public_path(key),
            valid_seconds=expires_seconds or self.settings.presign_expiry_seconds,
            reuse_seconds=self.settings.download_url_reuse_seconds,
            query=query,
        )

    def presign_upload_part(
        self,
        key: str,
        upload_id: str,
        part_number: int,
        size: int,
        expires_seconds: int | None = None,
    ) -> str:
        """A URL to PUT one part of a multipart upload to; the part must be exactly `size` bytes."""
        return self._presign(
            "PUT",
            key,
            expires_seconds,
            {"Content-Length": str(size)},
            {"uploadId": upload_id, "partNumber": str(part_number)},
        )

    # Multipart uploads: minio-py exposes these S3 calls only as underscored methods of its
    # client (its own put_object uses them); the version is pinned and the tests cover them.
    def start_multipart(self, key: str, content_type: str, *, checksums: bool = False) -> str:
        """CreateMultipartUpload; the upload id. With checksums each part must carry its SHA-256."""
        headers: dict[str, str | list[str] | tuple[str]] = {"Content-Type": content_type}
        if checksums:
            headers["x-amz-checksum-algorithm"] = "SHA256"
        return self._s3("start the multipart upload", lambda: self.client._create_multipart_upload(
            self.bucket, key, headers
        ))  # fmt: skip

    def complete_multipart(
        self, key: str, upload_id: str, parts: list[tuple[int, str]], *, checksums: bool = False
    ) -> None:
        """CompleteMultipartUpload with (part number, etag) pairs in ascending order."""
        from minio.datatypes import Part

        from mediavault import multipart

        if checksums:
            # Storage checked each part against its checksum on arrival; it wants them named.
            self._s3("complete the multipart upload", lambda: multipart.complete_with_checksums(
                self.client, self.bucket, key, upload_id, parts
            ))  # fmt: skip
            return
        listed = [Part(number, etag.strip('"')) for number, etag in parts]
        self._s3("complete the multipart upload", lambda: self.client._complete_multipart_upload(
            self.bucket, key, upload_id, listed
        ))  # fmt: skip

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """AbortMultipartUpload; an upload that is already gone is fine."""
        from minio.error import S3Error

        try:
            self.client._abort_multipart_upload(self.bucket, key, upload_id)
        except S3Error as error:
            if error.code != "NoSuchUpload":
                raise StorageError(f"cannot abort the upload: {error.code}") from error

    def stat(self, key: str) -> StoredObject | None:
        """Size, ETag and type of an object; None when it is not there."""
        from minio.error import S3Error

        try:
            found = self.client.stat_object(self.bucket, key)
        except S3Error as error:
            if error.code in ("NoSuchKey", "NoSuchObject", "NotFound"):
                return None
            raise StorageError(f"cannot look up an object: {error.code}") from error
        return StoredObject(int(found.size or 0), (found.etag or "").strip('"'),
                            found.content_type or "")  # fmt: skip

    def exists(self, key: str) -> bool:
        """True when the object is there."""
        return self.stat(key) is not None

    def download(self, key: str, target: Path) -> Downloaded:
        """Stream an object to a file, hashing it on the way; what was read, by its ETag."""
        import hashlib

        from minio.error import S3Error

        digest = hashlib.sha256()
        size = 0
        try:
            response = self.client.get_object(self.bucket, key)
        except S3Error as error:
            if error.code in ("NoSuchKey", "NoSuchObject"):
                raise ObjectMissing(key) from error
            raise StorageError(f"cannot download an object: {error.code}") from error
        try:
            # The ETag of this very response: the bytes written are the ones it names.
            etag = (response.headers.get("ETag") or "").strip('"')
            with target.open("wb") as file:
                for chunk in response.stream(amt=1024 * 1024):
                    digest.update(chunk)
                    file.write(chunk)
                    size += len(chunk)
        finally:
            response.close()
            response.release_conn()
        return Downloaded(size=size, etag=etag, sha256=digest.hexdigest())

    def sha256_of(self, key: str) -> str:
        """The SHA-256 (hex) of an object, streamed through without being stored."""
        import hashlib

        from minio.error import S3Error

        digest = hashlib.sha256()
        try:
            response = self.client.get_object(self.bucket, key)
        except S3Error as error:
            if error.code in ("NoSuchKey", "NoSuchObject"):
                raise ObjectMissing(key) from error
            raise StorageError(f"cannot read an object: {error.code}") from error
        try:
            for chunk in response.stream(amt=1024 * 1024):
                digest.update(chunk)
        finally:
            response.close()
            response.release_conn()
        return digest.hexdigest()

    def promote(self, source: str, target: str, etag: str, content_type: str) -> None:
        """Copy exactly the object that was checked (same ETag) to its served key.

        If the source changed since it was read (a second PUT on a still valid URL), the copy is
        refused and nothing unchecked is ever served. The caller removes the source once the
        new key is recorded, so that a crash in between loses nothing.
        """
        from minio.commonconfig import REPLACE, CopySource
        from minio.error import S3Error

        try:
            self.client.copy_object(
                self.bucket,
                target,
                CopySource(self.bucket, source, match_etag=etag),
                metadata={"Content-Type": content_type},
                metadata_directive=REPLACE,
            )
        except S3Error as error:
            if error.code in ("PreconditionFailed", "NoSuchKey", "NoSuchObject"):
                raise ObjectChanged(source) from error
            raise StorageError(f"cannot store the checked original: {error.code}") from error

    def remove(self, keys: list[str], prefixes: tuple[str, ...] = ()) -> None:
        """Delete objects and everything under prefixes; raise if any deletion failed."""
        from minio.deleteobjects import DeleteObject

        names = list(keys)
        for prefix in prefixes:
            names += [
                o.object_name
                for o in self.client.list_objects(self.bucket, prefix=prefix, recursive=True)
                if o.object_name is not None
            ]
        errors = list(self.client.remove_objects(self.bucket, [DeleteObject(n) for n in names]))
        if errors:
            raise StorageError(f"could not delete {len(errors)} objects: {errors[0].code}")

    def _s3(self, what: str, call: Callable[[], T]) -> T:
        from minio.error import S3Error

        try:
            return call()
        except S3Error as error:
            if error.code in ("InvalidPart", "InvalidPartOrder", "EntityTooSmall", "NoSuchUpload"):
                raise BadRequest(f"cannot {what}: {error.message}", code=error.code) from error
            raise StorageError(f"cannot {what}: {error.code}") from error

    def ping(self, timeout: float = 2.0) -> None:
        """Raise StorageError unless MinIO's liveness endpoint answers 200."""
        from http.client import HTTPConnection, HTTPException, HTTPSConnection

        connection_class = HTTPSConnection if self.settings.use_ssl else HTTPConnection
        connection = connection_class(self.settings.endpoint, timeout=timeout)
        try:
            connection.request("GET", "/minio/health/live")
            status = connection.getresponse().status
        except (OSError, HTTPException) as error:
            raise StorageError(f"MinIO unreachable: {type(error).__name__}") from error
        finally:
            connection.close()
        if status != 200:
            raise StorageError(f"MinIO not live: HTTP {status}")

    def _expiry(self, seconds: int | None) -> timedelta:
        return timedelta(seconds=seconds or self.settings.presign_expiry_seconds)


@dataclass(frozen=True)
class StoredObject:
    """What storage says about one object."""

    size: int
    etag: str
    content_type: str


@dataclass(frozen=True)
class Downloaded:
    """An object written to a local file."""

    size: int
    etag: str
    sha256: str


class ObjectMissing(StorageError):
    """The object is not there."""

    def __init__(self, key: str) -> None:
        super().__init__(f"{key} is not in storage")


class ObjectChanged(StorageError):
    """The object is not the one that was read any more (or is gone)."""

    def __init__(self, key: str) -> None:
        super().__init__(f"{key} changed or vanished while it was checked")


def _attachment(filename: str) -> str:
    """A Content-Disposition that survives any filename (RFC 6266 with RFC 5987 fallback)."""
    from urllib.parse import quote

    ascii_name = "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else "_" for c in filename)
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename, safe='')}"


def upload_key(media_id: str) -> str:
    """Where a browser PUTs an upload's bytes: a staging key nothing serves."""
    return f"{UPLOADS_PREFIX}{media_id}"


# Keys name the media alone: share links redirect to them, and a key naming its owner would tell
# every viewer whose it is (issue 20). `mediavault migrate-keys` moves keys of the older layout.
def original_key(media_id: str, extension: str) -> str:
    """Where a checked original lives: server-made, never from the user's filename."""
    return f"{ORIGINALS_PREFIX}{media_id}{extension}"


def derived_key(media_id: str, name: str) -> str:
    """Where a derived object (thumb.jpg, hevc.mp4) of a media lives."""
    return f"{DERIVED_PREFIX}{media_id}/{name}"
