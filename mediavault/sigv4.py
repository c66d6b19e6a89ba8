"""AWS Signature V4 query presigning that also signs request headers.

minio-py presigns with `host` as the only signed header, so whoever holds a PUT URL may send any
size and any Content-Type, and storage later serves that type back. Signing `content-length`,
`content-type` and `x-amz-checksum-sha256` makes storage itself refuse bytes that differ from what
the server allowed (SignatureDoesNotMatch, or a checksum mismatch). The algorithm is AWS's
(docs.aws.amazon.com/AmazonS3/latest/API/sigv4-query-string-auth.html); MinIO implements it.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import quote, urlsplit

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True)
class Credentials:
    """An access key pair and the region it signs for."""

    access_key: str
    secret_key: str
    region: str


def _encode(text: str) -> str:
    """RFC 3986 encoding as SigV4 wants it: everything but unreserved characters."""
    return quote(text, safe="-_.~")


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def presign(
    credentials: Credentials,
    method: str,
    url: str,
    *,
    expires_seconds: int,
    signed_headers: Mapping[str, str] | None = None,
    query: Mapping[str, str] | None = None,
    now: datetime | None = None,
) -> str:
    """A presigned URL for `method url` (path encoded); requests must send `signed_headers`."""
    parts = urlsplit(url)
    moment = (now or datetime.now(UTC)).astimezone(UTC)
    stamp = moment.strftime("%Y%m%dT%H%M%SZ")
    day = moment.strftime("%Y%m%d")
    scope = f"{day}/{credentials.region}/s3/aws4_request"
    headers = {"host": parts.netloc}
    headers.update(
        {name.lower(): " ".join(value.split()) for name, value in (signed_headers or {}).items()}
    )
    names = ";".join(sorted(headers))
    params = {
        **(query or {}),
        "X-Amz-Algorithm": ALGORITHM,
        "X-Amz-Credential": f"{credentials.access_key}/{scope}",
        "X-Amz-Date": stamp,
        "X-Amz-Expires": str(expires_seconds),
        "X-Amz-SignedHeaders": names,
    }
    canonical_query = "&".join(
        f"{_encode(key)}={_encode(value)}" for key, value in sorted(params.items())
    )
    canonical_headers = "".join(f"{name}:{headers[name]}\n" for name in sorted(headers))
    path = parts.path or "/"  # already URI-encoded once, as S3's canonical URI wants it
    canonical_request = "\n".join(
        (method, path, canonical_query, canonical_headers, names, UNSIGNED_PAYLOAD)
    )
    string_to_sign = "\n".join(
        (ALGORITHM, stamp, scope, hashlib.sha256(canonical_request.encode()).hexdigest())
    )
    key = _hmac(f"AWS4{credentials.secret_key}".encode(), day)
    for part in (credentials.region, "s3", "aws4_request"):
        key = _hmac(key, part)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{parts.scheme}://{parts.netloc}{path}?{canonical_query}&X-Amz-Signature={signature}"
