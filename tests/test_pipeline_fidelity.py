"""Phone media through the real worker: upright photos with their facts, HEIC, HDR and rotation."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
from flask.testing import FlaskClient
from PIL import Image

from mediavault.services import Services
from tests.api_fixtures import ApiUser
from tests.fidelity_media import (
    GREEN,
    RED,
    corners,
    displayed_frame,
    layout,
    marked_clip,
    near,
    oriented,
    pq_clip,
)
from tests.worker_fixtures import RunningWorker, Upload, ffprobe, settled


def _get(url: str) -> bytes:
    response = httpx.get(url)
    assert response.status_code == 200
    return response.content


def _ready(services: Services, media_api: FlaskClient, user: ApiUser, media_id: str) -> Any:
    row = settled(services, media_id)
    assert row["status"] == "ready", row["error"]
    return media_api.get(f"/api/media/{media_id}", headers=user.headers).get_json()


def test_a_phone_photo_is_upright_dated_and_its_place_stays_private(
    worker: RunningWorker, upload: Upload, media_api: FlaskClient, collections_api: FlaskClient,
    share_api: FlaskClient, alice: ApiUser, services: Services, tmp_path: Path,
) -> None:  # fmt: skip
    photo = oriented(tmp_path / "IMG_0001.jpg", 6)
    media = _ready(services, media_api, alice, upload(photo, "image/jpeg"))

    assert (media["width"], media["height"]) == (800, 500)  # as displayed, not as stored
    assert media["taken_at"] == "2024-06-01T14:03:22+02:00"
    assert (media["camera_make"], media["camera_model"]) == ("Apple", "iPhone 15 Pro")
    assert media["location"]["latitude"] == 48.8583
    urls = media["urls"]
    for name, fmt in (("thumbnail", "WEBP"), ("thumbnail_jpeg", "JPEG"), ("preview", "WEBP"),
                      ("preview_jpeg", "JPEG")):  # fmt: skip
        with Image.open(io.BytesIO(_get(urls[name]))) as picture:
            assert picture.format == fmt
            assert not picture.getexif(), name
            left, right = corners(picture)
            assert near(left, RED), name
            assert near(right, GREEN), name
    assert _get(urls["original"]) == photo.read_bytes()  # the original, as uploaded

    collection = collections_api.post("/api/collections", json={"title": "Trip"},
                                      headers=alice.headers).get_json()["id"]  # fmt: skip
    collections_api.put(f"/api/collections/{collection}/items/{media['id']}", headers=alice.headers)
    for allow in (False, True):
        token = collections_api.post(f"/api/collections/{collection}/shares",
                                     json={"allow_download": allow},
                                     headers=alice.headers).get_json()["token"]  # fmt: skip
        view = share_api.get(f"/api/share/{token}").get_json()
        page = share_api.get(f"/s/{token}").get_data(as_text=True)
        text = json.dumps(view)
        for private in ("48.85", "2.29", "latitude", "location", "iPhone", "taken_at"):
            assert private not in text, private
            assert private not in page, private
        [item] = view["items"]
        assert (item["width"], item["height"]) == (800, 500)
        assert (item["urls"]["original"] is not None) is allow
        # The share view's URLs are the share function's own: it redirects to storage.
        redirect = share_api.get(
            item["urls"]["playback"].removeprefix(services.settings.api_base_url)
        )
        assert redirect.status_code == 302
        shown = _get(redirect.headers["Location"])
        assert b"Exif" not in shown
        assert b"iPhone" not in shown


def test_a_heic_photo_gets_a_preview_and_keeps_its_original(
    worker: RunningWorker, upload: Upload, media_api: FlaskClient, alice: ApiUser,
    services: Services, tmp_path: Path,
) -> None:  # fmt: skip
    photo = oriented(tmp_path / "IMG_0002.heic", 8, "HEIF")
    media = _ready(services, media_api, alice, upload(photo, "image/heic"))

    assert media["content_type"] == "image/heic"
    assert (media["width"], media["height"]) == (800, 500)
    assert media["taken_at"] == "2024-06-01T14:03:22+02:00"
    with Image.open(io.BytesIO(_get(media["urls"]["playback"]))) as preview:
        assert preview.format == "WEBP"
        assert preview.size == (800, 500)
        assert near(corners(preview)[0], RED)
    original = httpx.get(media["urls"]["original"])
    assert original.content == photo.read_bytes()
    assert original.headers["content-type"] == "image/heic"


def test_videos_offer_their_sources_best_first_with_codecs(
    worker: RunningWorker, upload: Upload, media_api: FlaskClient, alice: ApiUser,
    services: Services, tmp_path: Path,
) -> None:  # fmt: skip
    tags = ("location=+48.8583+002.2945/", "creation_time=2021-07-04T12:00:00Z")
    phone = marked_clip(tmp_path / "phone.mp4", rotate=270, tags=tags)
    hdr = pq_clip(tmp_path / "hdr.mp4")

    plain = marked_clip(tmp_path / "plain.mp4")

    rotated = _ready(services, media_api, alice, upload(phone, "video/mp4"))
    hevc_hdr = _ready(services, media_api, alice, upload(hdr, "video/mp4"))
    h264 = _ready(services, media_api, alice, upload(plain, "video/mp4"))

    # An H.264 clip: HEVC first, then the web rendition, its own streams copied (nothing
    # encoded): share links without downloads never play the original itself.
    kinds = [source["type"] for source in h264["sources"]]
    assert kinds[0].startswith('video/mp4; codecs="hvc1.1.6.L')
    assert kinds[1:] == ['video/mp4; codecs="avc1.42C00C, mp4a.40.2"']  # as ultrafast wrote it
    assert h264["sources"][1]["url"] == h264["urls"]["web"]
    # The same from a phone that recorded where: its web rendition is its own streams copied,
    # without the place (nor any other container tag), displayed upright like the original.
    assert (rotated["width"], rotated["height"]) == (192, 320)
    assert rotated["taken_at"] == "2021-07-04T12:00:00+00:00"
    assert rotated["location"] == {"latitude": 48.8583, "longitude": 2.2945}
    kinds = [source["type"] for source in rotated["sources"]]
    assert kinds[0].startswith('video/mp4; codecs="hvc1.1.6.L')
    assert kinds[1].startswith('video/mp4; codecs="avc1.42C0')
    assert len(kinds) == 2
    assert rotated["urls"]["web"] is not None
    playback = tmp_path / "playback.mp4"
    playback.write_bytes(_get(rotated["sources"][0]["url"]))
    for url in (rotated["urls"]["playback"], rotated["urls"]["web"]):
        playback.write_bytes(_get(url))
        assert "location" not in json.dumps(ffprobe(playback)["format"].get("tags", {}))
    shown = tmp_path / "shown.png"
    for url in (rotated["sources"][1]["url"], rotated["sources"][0]["url"]):
        playback.write_bytes(_get(url))
        assert layout(displayed_frame(playback, shown)) == layout(displayed_frame(phone, shown))
    with Image.open(io.BytesIO(_get(rotated["urls"]["thumbnail"]))) as thumb:
        assert thumb.size == (192, 320)  # upright portrait
        assert layout(thumb) == layout(displayed_frame(phone, shown))

    # An HDR HEVC phone clip: kept as it is (10-bit, PQ), plus an SDR H.264 web rendition, last.
    assert hevc_hdr["urls"]["playback"] == hevc_hdr["urls"]["original"]
    types = [source["type"] for source in hevc_hdr["sources"]]
    assert types[0].startswith('video/mp4; codecs="hvc1.2.4.')
    assert types[1].startswith('video/mp4; codecs="avc1.64')
    web = tmp_path / "web.mp4"
    web.write_bytes(_get(hevc_hdr["urls"]["web"]))
    stream = next(s for s in ffprobe(web)["streams"] if s["codec_type"] == "video")
    assert (stream["codec_name"], stream["pix_fmt"], stream["color_transfer"]) == (
        "h264", "yuv420p", "bt709")  # fmt: skip
    assert stream["height"] <= 720
