"""AWS Signature V4 query presigning that also signs request headers.

minio-py presigns with `host` as the only signed header, so whoever holds a PUT URL may send any
size and any Content-Type, and storage later serves that type back. Signing `content-length`,
`content-type` and `x-amz-checksum-sha256` makes storage itself refuse bytes that differ from what
the server allowed (SignatureDoesNotMatch, or a checksum mismatch). The algorithm is AWS's
(docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html); MinIO implements it.

A list page signs hundreds of URLs: the signing key (four HMACs) depends only on the day, so it
is made once a day; and the canonical query, which differs between the URLs of a page only by
the served type, is made once for each, leaving a SHA-256 and an HMAC for each URL.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
_UNRESERVED = re.compile(r"[A-Za-z0-9_.~-]*")
_UNRESERVED_AND_SLASHES = re.compile(r"[A-Za-z0-9_.~/-]*")  # a key, a MIME type
STAMP = "%Y%m%dT%H%M%SZ"
_SHARED_PARTS = 256  # canonical parts kept: a page needs a few (one per type, time, expiry)


@dataclass(frozen=True)
class Credentials:
    """An access key pair and the region it signs for."""

    access_key: str
    secret_key: str
    region: str


@dataclass(frozen=True)
class _Day:
    """What every URL signed on one day shares."""

    day: str
    key: bytes
    scope: str
    credential: str  # the X-Amz-Credential parameter, encoded


def _encode(text: str) -> str:
    """RFC 3986 encoding as SigV4 wants it: everything but unreserved characters."""
    if _UNRESERVED.fullmatch(text):
        return text
    if _UNRESERVED_AND_SLASHES.fullmatch(text):
        return text.replace("/", "%2F")
    return quote(text, safe="-_.~")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Signer:
    """Presigns URLs for one account; the day's signing key is derived once and kept."""

    def __init__(self, credentials: Credentials, clock: Callable[[], datetime] = _utc_now) -> None:
        self.credentials = credentials
        self._clock = clock
        self._today: _Day | None = None
        self._window: tuple[int, str] | None = None  # a reuse window's start (epoch s), stamp
        self._shared: dict[tuple[object, ...], tuple[str, str, str]] = {}

    def signing_key(self, day: str) -> bytes:
        """The SigV4 signing key of a day (YYYYMMDD)."""
        return self._day(day).key

    def _day(self, day: str) -> _Day:
        today = self._today
        if today is None or today.day != day:
            credentials = self.credentials
            key = _hmac(f"AWS4{credentials.secret_key}".encode(), day)
            for part in (credentials.region, "s3", "aws4_request"):
                key = _hmac(key, part)
            scope = f"{day}/{credentials.region}/s3/aws4_request"
            today = _Day(day, key, scope, _encode(f"{credentials.access_key}/{scope}"))
            self._today = today  # swapped whole: a thread sees either day, never half of one
        return today

    def presign(
        self,
        method: str,
        origin: str,
        path: str,
        *,
        expires_seconds: int,
        signed_headers: Mapping[str, str] | None = None,
        query: Mapping[str, str] | None = None,
        now: datetime | None = None,
    ) -> str:
        """A presigned URL for `method origin+path` (path already encoded), for `signed_headers`."""
        moment = (now or self._clock()).astimezone(UTC)
        return self._sign(method, origin, path, stamp=moment.strftime(STAMP),
                          expires_seconds=expires_seconds, signed_headers=signed_headers,
                          query=query)  # fmt: skip

    def presign_reusable(
        self,
        method: str,
        origin: str,
        path: str,
        *,
        valid_seconds: int,
        reuse_seconds: int,
        query: Mapping[str, str] | None = None,
    ) -> str:
        """The same URL all through a `reuse_seconds` window, valid `valid_seconds` at least."""
        # Dated at the window's start (epoch-aligned: every process signs alike) and valid
        # `reuse_seconds` longer, so that `valid_seconds` remain at any moment of the window.
        now = self._clock()
        if reuse_seconds <= 0:
            return self.presign(method, origin, path, expires_seconds=valid_seconds,
                                query=query, now=now)  # fmt: skip
        elapsed = int(now.timestamp())
        start = elapsed - elapsed % reuse_seconds
        window = self._window
        if window is None or window[0] != start:
            window = (start, datetime.fromtimestamp(start, UTC).strftime(STAMP))
            self._window = window
        return self._sign(method, origin, path, stamp=window[1],
                          expires_seconds=valid_seconds + reuse_seconds, signed_headers=None,
                          query=query)  # fmt: skip

    def _sign(
        self,
        method: str,
        origin: str,
        path: str,
        *,
        stamp: str,
        expires_seconds: int,
        signed_headers: Mapping[str, str] | None,
        query: Mapping[str, str] | None,
    ) -> str:
        today = self._day(stamp[:8])
        if signed_headers:  # uploads: one URL at a time
            shared = _canonical_parts(origin, today, stamp, expires_seconds, signed_headers, query)
        else:
            wanted = (origin, stamp, expires_seconds, *(query or {}).items())
            found = self._shared.get(wanted)
            if found is None:
                found = _canonical_parts(origin, today, stamp, expires_seconds, None, query)
                if len(self._shared) >= _SHARED_PARTS:
                    self._shared.clear()  # the download names of originals fill it: start over
                self._shared[wanted] = found
            shared = found
        canonical_query, after_path, before_hash = shared
        path = path or "/"
        digest = hashlib.sha256(f"{method}\n{path}{after_path}".encode()).hexdigest()
        signature = hmac.digest(today.key, f"{before_hash}{digest}".encode(), "sha256").hex()
        return f"{origin}{path}?{canonical_query}&X-Amz-Signature={signature}"


def _canonical_parts(  # noqa: PLR0917  (private, one caller)
    origin: str,
    today: _Day,
    stamp: str,
    expires_seconds: int,
    signed_headers: Mapping[str, str] | None,
    query: Mapping[str, str] | None,
) -> tuple[str, str, str]:
    """Canonical query, canonical request after the path, string to sign before the hash."""
    # All that URLs of one host, time, expiry and query (served type) have in common.
    host = origin.partition("://")[2]
    if signed_headers:
        headers = {"host": host}
        headers.update({name.lower(): " ".join(value.split())
                        for name, value in signed_headers.items()})  # fmt: skip
        names = ";".join(sorted(headers))
        canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in sorted(headers))
    else:
        names, canonical_headers = "host", f"host:{host}\n"
    params = [
        ("X-Amz-Algorithm", ALGORITHM),
        ("X-Amz-Credential", today.credential),
        ("X-Amz-Date", stamp),
        ("X-Amz-Expires", str(expires_seconds)),
        ("X-Amz-SignedHeaders", _encode(names)),
    ]
    params += [(_encode(key), _encode(value)) for key, value in (query or {}).items()]
    canonical_query = "&".join(f"{key}={value}" for key, value in sorted(params))
    after_path = "\n".join(("", canonical_query, canonical_headers, names, UNSIGNED_PAYLOAD))
    return canonical_query, after_path, f"{ALGORITHM}\n{stamp}\n{today.scope}\n"


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.digest(key, message.encode(), "sha256")
