"""The HTTP client under minio: bounded connect and read, and retries only within a deadline."""

# urllib3 retries a refused connection, a reset of a kept-alive one, or a 502/503/504, which
# keeps a blip from failing a call. Its own Retry has no clock: after a read timeout of
# S3_READ_TIMEOUT_SECONDS it would try again, up to three times. Here a retry starts only while
# the call is within S3_CALL_DEADLINE_SECONDS, so a MinIO that does not answer (stopped,
# overloaded) costs one read timeout, and the caller answers 503 instead of waiting minutes.

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Self

import urllib3
from urllib3.exceptions import MaxRetryError, ResponseError

if TYPE_CHECKING:
    from types import TracebackType

    from urllib3.connectionpool import ConnectionPool
    from urllib3.response import BaseHTTPResponse

    from mediavault.config import StorageSettings

RETRIES = 3
BACKOFF_SECONDS = 0.2
RETRY_STATUSES = (502, 503, 504)


class DeadlineRetry(urllib3.Retry):
    """urllib3's retries, none of which starts past the call's deadline (monotonic seconds)."""

    def __init__(self, *args: Any, deadline: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.deadline = deadline

    def new(self, **kw: Any) -> Self:
        """The next attempt's state, with the same deadline."""
        kw.setdefault("deadline", self.deadline)
        return super().new(**kw)

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        """Count a failure; give up when retries run out, or time does."""
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        if time.monotonic() + retry.get_backoff_time() >= self.deadline:
            reason = error or ResponseError(f"gave up at the deadline ({retry.history[-1:]})")
            raise MaxRetryError(_pool, url, reason) from reason  # type: ignore[arg-type]
        return retry


class DeadlinePoolManager(urllib3.PoolManager):
    """A PoolManager whose every call carries its own deadline for retries."""

    def __init__(self, deadline_seconds: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.deadline_seconds = deadline_seconds

    def urlopen(  # type: ignore[override]
        self, method: str, url: str, redirect: bool = True, **kw: Any
    ) -> BaseHTTPResponse:
        """One call, retried within its deadline."""
        kw.setdefault(
            "retries",
            DeadlineRetry(
                total=RETRIES,
                backoff_factor=BACKOFF_SECONDS,
                status_forcelist=RETRY_STATUSES,
                deadline=time.monotonic() + self.deadline_seconds,
            ),
        )
        return super().urlopen(method, url, redirect, **kw)


def pool_manager(settings: StorageSettings) -> DeadlinePoolManager:
    """The HTTP client for a minio client, bounded by the storage settings."""
    timeout = urllib3.Timeout(
        connect=settings.connect_timeout_seconds, read=settings.read_timeout_seconds
    )
    return DeadlinePoolManager(settings.call_deadline_seconds, timeout=timeout, maxsize=16)
