"""Every test video plays with real frames in Debian's Chromium (no HEVC): web app, share page."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.fidelity_media import marked_clip, pq_clip
from tests.harness import poll
from tests.test_web_browser import drop_files, status_of_tile
from tests.web_fixtures import WebStack, open_page, sign_in
from tests.worker_fixtures import h264_clip

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

# Start the element looping and muted, then report what it decodes.
PLAY = """async (v) => {
    v.muted = true;
    v.loop = true;
    await v.play();
    return {width: v.videoWidth, frames: v.getVideoPlaybackQuality().totalVideoFrames,
            src: v.currentSrc};
}"""
GROWS = "([v, n]) => v.videoWidth > 0 && v.getVideoPlaybackQuality().totalVideoFrames > n + 5"


def _plays(page: Page, video: Any) -> dict[str, Any]:
    """Play one <video>; it must show a picture and decode more and more frames."""
    video.scroll_into_view_if_needed()
    page.wait_for_function("(v) => v.readyState >= 1", arg=video.element_handle(), timeout=30_000)
    started: dict[str, Any] = video.evaluate(PLAY)
    page.wait_for_function(GROWS, arg=[video.element_handle(), started["frames"]], timeout=30_000)
    return started


def test_every_test_video_plays_in_the_web_app_and_on_the_share_page(
    web_stack: WebStack, browser: Browser, tmp_path: Path, artifacts_dir: Path
) -> None:
    clips = {
        "clip.mp4": h264_clip(tmp_path / "clip.mp4", seconds=2.0),
        "phone.mp4": marked_clip(tmp_path / "phone.mp4", rotate=270),
        "hdr.mp4": pq_clip(tmp_path / "hdr.mp4"),  # 10-bit HEVC: only its web rendition plays
    }
    page = open_page(browser)
    sign_in(page, web_stack, web_stack.new_user())
    hevc_here = page.evaluate(
        "document.createElement('video').canPlayType('video/mp4; codecs=\"hvc1\"')"
    )
    drop_files(page, [(path, "video/mp4") for path in clips.values()])
    for name in clips:
        poll(lambda n=name: status_of_tile(page, n) == "ready", f"{name} ready", 120)  # type: ignore[misc]

    # The web app's viewer: whichever source Chromium picks, it shows frames.
    chosen = {}
    for name in clips:
        page.get_by_role("button", name=f"Open {name}").click()
        played = _plays(page, page.locator("dialog video"))
        chosen[name] = played["src"]
        assert played["width"] > 0, name
        page.get_by_role("button", name="Close viewer").click()
        page.locator("dialog[open]").wait_for(state="detached")
    if hevc_here == "":
        assert "hevc.mp4" not in " ".join(chosen.values())  # never the HEVC file here
        assert "web.mp4" in chosen["hdr.mp4"]

    # The share page of a collection of the three (downloads not allowed: no download link).
    token = page.evaluate(
        """async () => {
            const json = {'Content-Type': 'application/json'};
            const items = (await (await fetch('/api/media')).json()).items;
            const made = await (await fetch('/api/collections', {method: 'POST', headers: json,
                body: JSON.stringify({title: 'Playback'})})).json();
            for (const item of items) {
                await fetch(`/api/collections/${made.id}/items/${item.id}`, {method: 'PUT'});
            }
            const share = await (await fetch(`/api/collections/${made.id}/shares`,
                {method: 'POST', headers: json, body: '{}'})).json();
            return share.token;
        }"""
    )
    viewer = open_page(browser)
    viewer.goto(f"{web_stack.url}/s/{token}")
    videos = viewer.locator("video")
    assert videos.count() == len(clips)
    assert viewer.get_by_role("link", name="Download").count() == 0
    for index in range(videos.count()):
        played = _plays(viewer, videos.nth(index))
        assert played["width"] > 0
        if hevc_here == "":
            assert "hevc.mp4" not in played["src"]
    viewer.screenshot(path=str(artifacts_dir / "share-playback.png"), full_page=True)
