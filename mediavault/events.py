"""Parsing MinIO's S3 event notifications as they arrive from NSQ."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import unquote_plus

from mediavault.errors import EventError


@dataclass(frozen=True)
class ObjectCreated:
    """One s3:ObjectCreated:* record: which object appeared, how big, of what type."""

    event_name: str
    bucket: str
    key: str
    size: int
    etag: str
    content_type: str | None
    sequencer: str | None


def parse_event_message(body: bytes | str) -> list[ObjectCreated]:
    """Every ObjectCreated record of one MinIO notification; other record types are skipped."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError) as error:  # deep nesting too
        raise EventError(f"event is not JSON: {error}") from error
    if not isinstance(document, dict) or not isinstance(document.get("Records"), list):
        raise EventError("event has no Records list")
    return [record for raw in document["Records"] if (record := _parse_record(raw)) is not None]


def _parse_record(raw: object) -> ObjectCreated | None:
    if not isinstance(raw, dict):
        raise EventError("event record is not an object")
    name = raw.get("eventName")
    if not isinstance(name, str):
        raise EventError("event record has no eventName")
    if not name.startswith("s3:ObjectCreated:"):
        return None
    try:
        s3 = raw["s3"]
        bucket = s3["bucket"]["name"]
        obj = s3["object"]
        # MinIO query-escapes keys in records (space as "+"), as S3 does.
        key = unquote_plus(obj["key"])
        size = int(obj.get("size", 0))
    except (KeyError, TypeError, ValueError) as error:
        raise EventError(f"event record is missing {error}") from error
    if not isinstance(bucket, str) or not key:
        raise EventError("event record has no bucket or key")
    return ObjectCreated(
        event_name=name,
        bucket=bucket,
        key=key,
        size=size,
        etag=str(obj.get("eTag", "")),
        content_type=obj.get("contentType"),
        sequencer=obj.get("sequencer"),
    )
