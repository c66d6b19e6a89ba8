"""The one exception tree of MediaVault.

MediaVaultError
├── ConfigError                 settings missing or malformed, all named at once (fail fast)
├── StorageError                object storage refused or failed a request
├── EventError                  a queue message is not a MinIO event we understand
└── HTTPError                   carries a status and a machine-readable code to the client
    ├── BadRequest              400 bad_request
    ├── Unauthorized            401 unauthorized
    ├── Forbidden               403 forbidden
    ├── NotFound                404 not_found (also: exists but is not yours)
    ├── MethodNotAllowed        405 method_not_allowed
    ├── Conflict                409 conflict
    ├── PayloadTooLarge         413 payload_too_large
    ├── UnsupportedMediaType    415 unsupported_media_type
    ├── TooManyRequests         429 too_many_requests (with Retry-After)
    ├── BadGateway              502 provider_error (Discord refused or failed)
    └── ServiceUnavailable      503 service_unavailable

The command-line client's errors are a branch of this tree too: ClientError and its children in
mediavault/client/errors.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar


class MediaVaultError(Exception):
    """Base of every error MediaVault raises on purpose."""


class ConfigError(MediaVaultError):
    """Settings are missing or malformed; the message names each (`variable`: the first)."""

    def __init__(
        self, variable: str, problem: str, *, also: Sequence[tuple[str, str]] = ()
    ) -> None:
        self.problems: tuple[tuple[str, str], ...] = ((variable, problem), *also)
        super().__init__("; ".join(f"{name}: {text}" for name, text in self.problems))
        self.variable = variable
        self.problem = problem


class StorageError(MediaVaultError):
    """Object storage could not do what was asked."""


class EventError(MediaVaultError):
    """A message from the queue is not a MinIO S3 event."""


class HTTPError(MediaVaultError):
    """An error that becomes a JSON response with its status."""

    status: ClassVar[int] = 500
    code: ClassVar[str] = "internal"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code  # type: ignore[misc]  # a finer code for one instance

    def to_dict(self) -> dict[str, dict[str, str]]:
        """The JSON error body of DESIGN.md."""
        return {"error": {"code": self.code, "message": self.message}}

    @property
    def headers(self) -> dict[str, str]:
        """Response headers the error carries, whatever the body's form (JSON or a page)."""
        return {}


class BadRequest(HTTPError):
    """The request is malformed."""

    status = 400
    code = "bad_request"


class Unauthorized(HTTPError):
    """No valid session or API token."""

    status = 401
    code = "unauthorized"


class Forbidden(HTTPError):
    """Authenticated but not allowed (never used to hide ownership: that is NotFound)."""

    status = 403
    code = "forbidden"


class NotFound(HTTPError):
    """Unknown, or not yours."""

    status = 404
    code = "not_found"


class MethodNotAllowed(HTTPError):
    """The path exists but not with this method."""

    status = 405
    code = "method_not_allowed"


class Conflict(HTTPError):
    """The request conflicts with the current state."""

    status = 409
    code = "conflict"


class PayloadTooLarge(HTTPError):
    """Too big for the limits or the quota."""

    status = 413
    code = "payload_too_large"


class UnsupportedMediaType(HTTPError):
    """Content type not allowed."""

    status = 415
    code = "unsupported_media_type"


class TooManyRequests(HTTPError):
    """A limit on how much or how fast was reached; try again after `retry_after` seconds."""

    status = 429
    code = "too_many_requests"

    def __init__(self, message: str, *, retry_after: int, code: str | None = None) -> None:
        super().__init__(message, code=code)
        self.retry_after = retry_after

    @property
    def headers(self) -> dict[str, str]:
        """When to try again."""
        return {"Retry-After": str(self.retry_after)}


class BadGateway(HTTPError):
    """An upstream we depend on (Discord) answered with an error or not at all."""

    status = 502
    code = "provider_error"


class ServiceUnavailable(HTTPError):
    """A dependency is down."""

    status = 503
    code = "service_unavailable"
