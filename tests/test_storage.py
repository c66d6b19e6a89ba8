"""Storage: presigned URLs fix what may be sent, are signed for the public host, serve safely."""

from __future__ import annotations

import base64
import hashlib
import os
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qs, urlsplit

import httpx

from mediavault.services import Services
from mediavault.storage import Storage, derived_key, original_key, upload_key
from tests.conftest import Plant, put_object


def _upload_key() -> str:
    return upload_key(str(uuid.uuid4()))


def test_presigned_put_then_get_round_trips_bytes_through_the_public_endpoint(
    services: Services,
) -> None:
    storage = services.storage
    key = _upload_key()
    payload = os.urandom(64 * 1024)
    put_url, headers = storage.presign_put(key, "video/mp4", len(payload), expires_seconds=300)
    get_url = storage.presign_get(key, "video/mp4", expires_seconds=300)

    public = urlsplit(storage.settings.public_url)
    for url in (put_url, get_url):
        assert urlsplit(url).netloc == public.netloc
        assert urlsplit(url).netloc != storage.settings.endpoint
        assert "X-Amz-Signature=" in url

    put = httpx.put(put_url, content=payload, headers=headers)
    assert put.status_code == 200, put.text
    got = httpx.get(get_url)
    assert got.status_code == 200
    assert got.content == payload


def test_a_presigned_put_takes_only_the_announced_size_and_type(services: Services) -> None:
    storage = services.storage
    key = _upload_key()
    payload = os.urandom(1000)
    url, headers = storage.presign_put(key, "image/png", len(payload))
    html = b"<html><script>alert(1)</script></html>".ljust(1000, b" ")
    as_html = httpx.put(url, content=html, headers={**headers, "Content-Type": "text/html"})
    assert as_html.status_code == 403
    bigger = httpx.put(url, content=payload * 20, headers=headers)
    assert bigger.status_code == 403
    assert not storage.exists(key)
    assert httpx.put(url, content=payload, headers=headers).status_code == 200
    stored = storage.stat(key)
    assert stored is not None
    assert (stored.size, stored.content_type) == (1000, "image/png")


def test_a_checksummed_put_refuses_other_bytes_of_the_same_size(services: Services) -> None:
    storage = services.storage
    key = _upload_key()
    payload = os.urandom(2048)
    digest = base64.b64encode(hashlib.sha256(payload).digest()).decode()
    url, headers = storage.presign_put(key, "video/mp4", len(payload), sha256_b64=digest)
    forged = httpx.put(url, content=os.urandom(2048), headers=headers)
    assert forged.status_code == 400
    assert "Checksum" in forged.text
    assert not storage.exists(key)
    assert httpx.put(url, content=payload, headers=headers).status_code == 200


def test_a_tampered_presigned_url_is_refused(services: Services) -> None:
    key = _upload_key()
    url, headers = services.storage.presign_put(key, "video/mp4", 4)
    tampered = url.replace(key, key + "x")
    assert httpx.put(tampered, content=b"nope", headers=headers).status_code == 403


def test_downloads_are_served_with_the_type_we_choose_not_the_stored_one(
    services: Services, admin_storage: Storage
) -> None:
    key = original_key(str(uuid.uuid4()), ".png")
    put_object(admin_storage, key, b"<html><script>alert(1)</script></html>", "text/html")
    response = httpx.get(
        services.storage.presign_get(key, "image/png", download_name='café "x".png')
    )
    assert response.headers["content-type"] == "image/png"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "UTF-8''caf%C3%A9" in disposition


def test_urls_carry_the_functions_account_not_minios_root(
    services: Services, admin_storage: Storage
) -> None:
    url = services.storage.presign_get(derived_key("m", "thumb.jpg"), "image/jpeg")
    assert f"X-Amz-Credential={services.storage.settings.access_key}%2F" in url
    assert f"X-Amz-Credential={admin_storage.settings.access_key}%2F" not in url


def test_ensure_bucket_and_notification_are_idempotent(admin_storage: Storage) -> None:
    storage = admin_storage
    assert storage.ensure_bucket() is False
    storage.configure_upload_notification()
    storage.configure_upload_notification()
    config = storage.client.get_bucket_notification(storage.bucket)
    ours = [q for q in config.queue_config_list if q.config_id == "mediavault-uploads"]
    assert len(ours) == 1
    assert ours[0].queue == storage.settings.notify_arn
    assert ours[0].prefix_filter_rule is not None
    assert ours[0].prefix_filter_rule.value == "uploads/"


def test_object_keys_are_server_made() -> None:
    assert upload_key("m1") == "uploads/m1"
    # Named by the media alone: a share link's redirect must not tell whose it is (issue 20).
    assert original_key("m1", ".mp4") == "originals/m1.mp4"
    assert derived_key("m1", "thumb.jpg") == "derived/m1/thumb.jpg"


def _window_of(url: str) -> tuple[datetime, int]:
    params = parse_qs(urlsplit(url).query)
    dated = datetime.strptime(params["X-Amz-Date"][0], "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
    return dated, int(params["X-Amz-Expires"][0])


def test_download_urls_are_reused_within_a_window_and_served_by_storage(
    services: Services, plant: Plant
) -> None:
    storage = services.storage
    key = derived_key(str(uuid.uuid4()), "thumb.webp")
    plant(key, b"webp", "text/html")
    reuse = storage.settings.download_url_reuse_seconds
    assert reuse > 0
    while True:
        before = datetime.now(UTC)
        urls = [storage.presign_get(key, "image/webp", expires_seconds=120) for _ in range(2)]
        after = datetime.now(UTC)
        if int(before.timestamp()) // reuse == int(after.timestamp()) // reuse:
            break  # else the two fell on both sides of a window's end: ask again
    # The same URL twice (a browser's cache hit), dated at the window's start, still valid for
    # at least the time asked for, and storage takes a URL dated minutes ago.
    assert urls[0] == urls[1]
    dated, expires = _window_of(urls[0])
    assert dated.timestamp() % reuse == 0
    assert dated <= before
    assert dated + timedelta(seconds=expires) >= after + timedelta(seconds=120)
    got = httpx.get(urls[0])
    assert (got.status_code, got.content) == (200, b"webp")
    assert got.headers["content-type"] == "image/webp"
