"""Storage: presigned URLs signed for the public endpoint actually move bytes."""

from __future__ import annotations

import os
import uuid
from urllib.parse import urlsplit

import httpx

from mediavault.services import Services
from mediavault.storage import Storage, derived_key, original_key


def test_presigned_put_then_get_round_trips_bytes_through_the_public_endpoint(
    services: Services,
) -> None:
    storage = services.storage
    key = f"scratch/{uuid.uuid4()}.bin"
    payload = os.urandom(64 * 1024)
    put_url = storage.presign_put(key, expires_seconds=300)
    get_url = storage.presign_get(key, expires_seconds=300)

    public = urlsplit(storage.settings.public_url)
    for url in (put_url, get_url):
        assert urlsplit(url).netloc == public.netloc
        assert urlsplit(url).netloc != storage.settings.endpoint
        assert "X-Amz-Signature=" in url

    put = httpx.put(put_url, content=payload, headers={"Content-Type": "application/octet-stream"})
    assert put.status_code == 200, put.text
    got = httpx.get(get_url)
    assert got.status_code == 200
    assert got.content == payload


def test_a_tampered_presigned_url_is_refused(services: Services) -> None:
    key = f"scratch/{uuid.uuid4()}.bin"
    url = services.storage.presign_put(key)
    tampered = url.replace(key, key + "x")
    assert httpx.put(tampered, content=b"nope").status_code == 403


def test_download_name_sets_content_disposition(services: Services) -> None:
    key = f"scratch/{uuid.uuid4()}.txt"
    assert httpx.put(services.storage.presign_put(key), content=b"hi").status_code == 200
    response = httpx.get(services.storage.presign_get(key, download_name='café "x".txt'))
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "UTF-8''caf%C3%A9" in disposition


def test_ensure_bucket_and_notification_are_idempotent(services: Services) -> None:
    storage: Storage = services.storage
    assert storage.ensure_bucket() is False
    storage.configure_upload_notification()
    storage.configure_upload_notification()
    config = storage.client.get_bucket_notification(storage.bucket)
    ours = [q for q in config.queue_config_list if q.config_id == "mediavault-uploads"]
    assert len(ours) == 1
    assert ours[0].queue == storage.settings.notify_arn
    assert ours[0].prefix_filter_rule is not None
    assert ours[0].prefix_filter_rule.value == "originals/"


def test_object_keys_are_server_made() -> None:
    assert original_key("u1", "m1", ".mp4") == "originals/u1/m1.mp4"
    assert derived_key("u1", "m1", "thumb.jpg") == "derived/u1/m1/thumb.jpg"
