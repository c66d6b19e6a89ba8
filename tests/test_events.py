"""Upload events: MinIO's real notification through a real nsqd, and the record parser."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest

from mediavault.errors import EventError
from mediavault.events import parse_event_message
from mediavault.services import Services
from tests.conftest import Plant, Stack
from tests.harness import nsq_collector, poll


def _keys(bodies: list[bytes]) -> set[str]:
    return {record.key for body in bodies for record in parse_event_message(body)}


def test_a_put_under_uploads_reaches_an_nsq_reader_and_others_do_not(
    stack: Stack, services: Services, plant: Plant
) -> None:
    storage = services.storage
    run = uuid.uuid4().hex
    outside = f"originals/{run}/holiday.mp4"
    inside = f"uploads/{run}/holiday video+1.mp4"  # a space and a plus: keys arrive escaped
    with nsq_collector(
        stack.settings.queue.nsqd_tcp_address, stack.settings.queue.topic, f"test-{run}"
    ) as reader:
        plant(outside, b"\x00" * 1024)
        url, headers = storage.presign_put(inside, "video/mp4", 1024)
        response = httpx.put(url, content=b"\x00" * 1024, headers=headers)
        assert response.status_code == 200, response.text
        poll(lambda: inside in _keys(reader.snapshot()), "MinIO's event for the upload")
        keys = _keys(reader.snapshot())
    assert outside not in keys
    records = [r for b in reader.snapshot() for r in parse_event_message(b) if r.key == inside]
    assert records[0].event_name.startswith("s3:ObjectCreated:")
    assert records[0].bucket == storage.bucket
    assert records[0].size == 1024


def _message(*records: object) -> bytes:
    return json.dumps({"EventName": "s3:ObjectCreated:Put", "Records": list(records)}).encode()


def _record(
    name: str = "s3:ObjectCreated:Put", key: str = "originals/u/m.mp4"
) -> dict[str, object]:
    return {
        "eventName": name,
        "s3": {
            "bucket": {"name": "b"},
            "object": {"key": key, "size": 7, "eTag": "e", "contentType": "video/mp4"},
        },
    }


def test_parser_unescapes_keys_and_skips_other_events() -> None:
    body = _message(_record(key="originals/u/a%20b+c.mp4"), _record(name="s3:ObjectRemoved:Delete"))
    [record] = parse_event_message(body)
    assert record.key == "originals/u/a b c.mp4"
    assert record.size == 7
    assert record.content_type == "video/mp4"


@pytest.mark.parametrize(
    "body",
    [
        b"not json", b"[]", b'{"Records": "x"}', _message({"eventName": "s3:ObjectCreated:Put"}),
        b'{"Records": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # past the recursion limit
    ],
)  # fmt: skip
def test_parser_rejects_what_is_not_a_minio_event(body: bytes) -> None:
    with pytest.raises(EventError):
        parse_event_message(body)
