"""The share page in a real headless Chromium: thumbnails render and the video can play."""

from __future__ import annotations

from pathlib import Path

from flask.testing import FlaskClient

from mediavault.devstack.oauth import ServedApp
from mediavault.services import Services
from tests.api_fixtures import ApiUser
from tests.web_fixtures import CHROMIUM, CHROMIUM_FLAGS
from tests.worker_fixtures import RunningWorker, Upload, h264_clip, lavfi, settled


def test_the_share_page_plays_in_chromium(
    worker: RunningWorker, upload: Upload, collections_api: FlaskClient, alice: ApiUser,
    services: Services, served_share: ServedApp, tmp_path: Path, artifacts_dir: Path,
) -> None:  # fmt: skip
    from playwright.sync_api import sync_playwright

    video = upload(h264_clip(tmp_path / "clip.mp4", seconds=2.0), "video/mp4")
    image = upload(lavfi(tmp_path / "photo.jpg", "-f", "lavfi", "-i", "testsrc2=size=640x480",
                         "-frames:v", "1"), "image/jpeg")  # fmt: skip
    for media_id in (video, image):
        assert settled(services, media_id)["status"] == "ready"
    collection = collections_api.post("/api/collections", json={"title": "Browser test"},
                                      headers=alice.headers).get_json()["id"]  # fmt: skip
    for media_id in (video, image):
        collections_api.put(
            f"/api/collections/{collection}/items/{media_id}", headers=alice.headers
        )
    token = collections_api.post(f"/api/collections/{collection}/shares", json={},
                                 headers=alice.headers).get_json()["token"]  # fmt: skip

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1024, "height": 768})
            response = page.goto(f"{served_share.base_url}/s/{token}")
            assert response is not None
            assert response.status == 200
            assert page.title() == "Browser test"
            page.wait_for_function(
                "() => [...document.images].length > 0"
                " && [...document.images].every(i => i.complete && i.naturalWidth > 0)",
                timeout=20_000,
            )
            # Each <source> names its codecs, so Chromium (no HEVC decoder here) skips the HEVC
            # file and plays the web rendition (this link allows no downloads, so never the
            # original): real frames, not sound over a black picture.
            types = page.eval_on_selector_all("video source", "els => els.map(e => e.type)")
            assert types[0].startswith('video/mp4; codecs="hvc1.')
            assert types[1].startswith('video/mp4; codecs="avc1.')
            page.eval_on_selector("video", "v => { v.muted = true; return v.play(); }")
            page.wait_for_function(
                "() => (v => v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > 5)"
                "(document.querySelector('video'))",
                timeout=20_000,
            )
            first = page.evaluate(
                "() => document.querySelector('video').getVideoPlaybackQuality().totalVideoFrames"
            )
            page.wait_for_function(
                "first => document.querySelector('video')"
                ".getVideoPlaybackQuality().totalVideoFrames > first",
                arg=first,
                timeout=20_000,
            )
            playing = page.evaluate("() => document.querySelector('video').currentSrc")
            assert playing.endswith("/web")  # the share function's own URL, redirecting
            page.screenshot(path=str(artifacts_dir / "share-page.png"), full_page=True)
        finally:
            browser.close()
    assert (artifacts_dir / "share-page.png").stat().st_size > 1000
