"""Hostile files through the real worker: manifests, disguised HTML, bombs, swapped bytes."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import httpx
import pytest
from flask.testing import FlaskClient

from mediavault.services import Services
from mediavault.storage import Storage
from tests.api_fixtures import ApiUser
from tests.harness import poll
from tests.worker_fixtures import RunningWorker, Upload, h264_clip, lavfi, settled


@pytest.fixture(scope="module")
def secret_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A file on the worker's disk that no upload may ever reach."""
    return h264_clip(tmp_path_factory.mktemp("worker-disk") / "secret.mp4", seconds=1.0)


def _manifests(secret: Path) -> dict[str, bytes]:
    """Each known way to make ffmpeg open another file, naming the worker's secret."""
    return {
        "HLS": (
            f"#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\nfile:{secret}\n#EXT-X-ENDLIST\n"
        ).encode(),
        "DASH": (
            '<?xml version="1.0"?><MPD xmlns="urn:mpeg:dash:schema:mpd:2011" type="static"'
            ' mediaPresentationDuration="PT1S" minBufferTime="PT1S"><Period><AdaptationSet>'
            '<Representation id="1" bandwidth="1000" mimeType="video/mp4" codecs="avc1">'
            f"<BaseURL>file://{secret}</BaseURL><SegmentBase/></Representation>"
            "</AdaptationSet></Period></MPD>"
        ).encode(),
        "ffconcat": f"ffconcat version 1.0\nfile '{secret}'\n".encode(),
        "subfile": (
            "#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:1,\n"
            f"subfile,,start,0,end,0,,:{secret}\n#EXT-X-ENDLIST\n"
        ).encode(),
        "SDP": (
            b"v=0\no=- 0 0 IN IP4 127.0.0.1\ns=x\nc=IN IP4 127.0.0.1\nt=0 0\n"
            b"m=video 5004 RTP/AVP 96\na=rtpmap:96 H264/90000\n"
        ),
    }


def _no_trace_of(services: Services, storage: Storage, media_id: str) -> None:
    """Nothing of a refused upload is left in storage."""
    leftovers = [
        o.object_name
        for prefix in (f"derived/{media_id}/", f"originals/{media_id}", "uploads/")
        for o in storage.client.list_objects(storage.bucket, prefix=prefix, recursive=True)
        if media_id in (o.object_name or "")
    ]
    assert leftovers == []


@pytest.mark.parametrize("trick", ["HLS", "DASH", "ffconcat", "subfile", "SDP"])
def test_a_manifest_cannot_make_the_worker_read_its_own_files(
    worker: RunningWorker, upload: Upload, alice: ApiUser, services: Services,
    admin_storage: Storage, secret_clip: Path, tmp_path: Path, trick: str,
) -> None:  # fmt: skip
    path = tmp_path / "clip.mp4"
    path.write_bytes(_manifests(secret_clip)[trick])
    media_id = upload(path, "video/mp4")
    row = settled(services, media_id)
    assert row["status"] == "failed"
    assert row["error"].startswith("not a photo, video or audio file in a format we accept")
    assert str(secret_clip.parent) not in row["error"]
    assert "mediavault-scratch" not in row["error"]
    assert (row["thumbnail_key"], row["playback_key"], row["width"]) == (None, None, None)
    _no_trace_of(services, admin_storage, media_id)


def test_html_announced_as_a_picture_is_refused_and_never_served(
    worker: RunningWorker, presign: FlaskClient, media_api: FlaskClient, alice: ApiUser,
    services: Services, admin_storage: Storage,
) -> None:  # fmt: skip
    page = b"<!DOCTYPE html><html><script>fetch('/api/collections')</script></html>"
    announced = {"filename": "cat.png", "content_type": "image/png", "size_bytes": len(page)}
    body = presign.post("/api/uploads", json=announced, headers=alice.headers).get_json()
    # The signed Content-Type holds: storage refuses the PUT as text/html outright.
    as_html = httpx.put(body["url"], content=page, headers={"Content-Type": "text/html"})
    assert as_html.status_code == 403
    # Sent as announced, it reaches the worker, which sees HTML, refuses it and deletes it.
    assert httpx.put(body["url"], content=page, headers=body["headers"]).status_code == 200
    presign.post(f"/api/uploads/{body['media_id']}/complete", headers=alice.headers)
    row = settled(services, body["media_id"])
    assert row["status"] == "failed"
    assert "(this one is HTML)" in row["error"]
    item = media_api.get(f"/api/media/{body['media_id']}", headers=alice.headers).get_json()
    assert item["urls"]["original"] is None
    _no_trace_of(services, admin_storage, body["media_id"])


def test_a_png_html_polyglot_is_only_ever_served_as_a_picture(
    worker: RunningWorker, upload: Upload, media_api: FlaskClient, alice: ApiUser,
    services: Services, tmp_path: Path,
) -> None:  # fmt: skip
    png = lavfi(tmp_path / "p.png", "-f", "lavfi", "-i", "testsrc2=size=64x64", "-frames:v", "1")
    png.write_bytes(png.read_bytes() + b"<html><script>alert(document.domain)</script></html>")
    media_id = upload(png, "image/png")
    settled(services, media_id)
    item = media_api.get(f"/api/media/{media_id}", headers=alice.headers).get_json()
    urls = [url for url in item["urls"].values() if url]
    assert urls  # it is a valid PNG: it is served, but only ever as one
    for url in urls:
        response = httpx.get(url)
        assert response.status_code == 200
        assert response.headers["content-type"] in ("image/png", "image/jpeg", "image/webp")
    original = httpx.get(item["urls"]["original"])
    assert original.headers["content-disposition"].startswith("attachment;")


def test_a_second_put_on_a_valid_url_cannot_change_what_is_served(
    worker: RunningWorker, presign: FlaskClient, media_api: FlaskClient, alice: ApiUser,
    services: Services, admin_storage: Storage, tmp_path: Path,
) -> None:  # fmt: skip
    clip = h264_clip(tmp_path / "clip.mp4", seconds=1.0).read_bytes()
    announced = {"filename": "clip.mp4", "content_type": "video/mp4", "size_bytes": len(clip)}
    body = presign.post("/api/uploads", json=announced, headers=alice.headers).get_json()
    assert httpx.put(body["url"], content=clip, headers=body["headers"]).status_code == 200
    presign.post(f"/api/uploads/{body['media_id']}/complete", headers=alice.headers)
    assert settled(services, body["media_id"])["status"] == "ready"

    swapped = b"<html><script>alert(1)</script></html>".ljust(len(clip), b" ")
    assert httpx.put(body["url"], content=swapped, headers=body["headers"]).status_code == 200
    item = media_api.get(f"/api/media/{body['media_id']}", headers=alice.headers).get_json()
    assert httpx.get(item["urls"]["original"]).content == clip
    # The stray bytes are removed once the worker sees their event.
    staging = f"uploads/{body['media_id']}"
    poll(lambda: not admin_storage.exists(staging), "the stray upload to be removed", 30)
    assert httpx.get(item["urls"]["original"]).content == clip


def _png_header_bomb(width: int, height: int) -> bytes:
    """A PNG whose header claims a huge picture, with a few bytes of image data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    data = zlib.compress(b"\x00" * 4096)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def test_a_picture_beyond_the_pixel_cap_is_refused_before_decoding(
    worker: RunningWorker, upload: Upload, services: Services, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_png_header_bomb(16000, 16000))
    media_id = upload(bomb, "image/png")
    row = settled(services, media_id)
    assert row["status"] == "failed"
    assert row["error"] == "the picture has 256 megapixels; at most 120 megapixels are accepted"
