"""Publishing to the uploads topic: re-enqueueing an upload looks exactly like MinIO's event."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING
from urllib.parse import quote_plus

from mediavault.errors import MediaVaultError

if TYPE_CHECKING:
    from mediavault.config import QueueSettings

REPROCESS_EVENT = "s3:ObjectCreated:Put"


def object_created_message(bucket: str, key: str, size: int) -> bytes:
    """A notification in MinIO's shape, so the worker has one kind of message to read."""
    record = {
        "eventVersion": "2.0",
        "eventSource": "mediavault:reconcile",
        "eventName": REPROCESS_EVENT,
        "s3": {
            "bucket": {"name": bucket},
            "object": {"key": quote_plus(key, safe="/"), "size": size},
        },
    }
    document = {"EventName": REPROCESS_EVENT, "Key": f"{bucket}/{key}", "Records": [record]}
    return json.dumps(document).encode()


def publish(
    settings: QueueSettings, body: bytes, timeout: float = 5.0, defer_seconds: int = 0
) -> None:
    """Publish one message through nsqd's HTTP API (delivered after `defer_seconds`)."""
    import httpx

    url = f"http://{settings.nsqd_http_address}/pub"
    params: dict[str, str | int] = {"topic": settings.topic}
    if defer_seconds > 0:
        params["defer"] = defer_seconds * 1000
    try:
        response = httpx.post(url, params=params, content=body, timeout=timeout)
    except httpx.HTTPError as error:
        raise MediaVaultError(
            f"cannot reach nsqd at {settings.nsqd_http_address}: {error}"
        ) from error
    if response.status_code != 200:
        raise MediaVaultError(f"nsqd refused the message: {response.status_code} {response.text}")
