"""The web app in Debian's Chromium against the whole local stack, as a person uses it."""

from __future__ import annotations

import base64
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediavault.services import Services
from mediavault.storage import Storage
from tests.harness import poll
from tests.web_fixtures import (
    DESKTOP,
    MIB,
    PHONE,
    WebStack,
    axe_violations,
    open_page,
    open_signed_out,
    problems,
    sign_in,
)
from tests.worker_fixtures import h264_clip, lavfi

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


def drop_files(page: Page, paths: list[tuple[Path, str]]) -> None:
    """Drag files from outside onto the page and drop them, as a person would."""
    files = [
        {"name": p.name, "type": t, "b64": base64.b64encode(p.read_bytes()).decode()}
        for p, t in paths
    ]
    transfer = page.evaluate_handle(
        """(files) => {
            const dt = new DataTransfer();
            for (const f of files) {
                const bytes = Uint8Array.from(atob(f.b64), (c) => c.charCodeAt(0));
                dt.items.add(new File([bytes], f.name, {type: f.type}));
            }
            return dt;
        }""",
        files,
    )
    page.dispatch_event("main", "dragenter", {"dataTransfer": transfer})
    page.get_by_text("Drop to upload").wait_for()
    page.dispatch_event("main", "drop", {"dataTransfer": transfer})


def tile(page: Page, filename: str) -> Any:
    return page.locator(".tile", has=page.get_by_role("button", name=f"Open {filename}"))


def status_of_tile(page: Page, filename: str) -> str:
    value = page.locator(f".tile:has(button[aria-label^='Open {filename}'])").get_attribute(
        "data-status"
    )
    return value or ""


def user_id(services: Services, username: str) -> str:
    with services.pool.connection() as conn:
        row = conn.execute("SELECT id FROM users WHERE username = %s", (username,)).fetchone()
    assert row is not None
    return str(row["id"])


def test_sign_in_upload_play_tag_collect_share_and_revoke(
    web_stack: WebStack, browser: Browser, services: Services, tmp_path: Path, artifacts_dir: Path
) -> None:
    name = web_stack.new_user()
    page = open_page(browser)
    sign_in(page, web_stack, name)

    # Upload: a video and a photo dropped on the page, a file above the multipart threshold picked.
    clip = h264_clip(tmp_path / "clip.mp4", seconds=2.0)
    photo = lavfi(tmp_path / "photo.jpg", "-f", "lavfi", "-i", "testsrc2=size=640x480",
                  "-frames:v", "1")  # fmt: skip
    big = tmp_path / "big.mp4"
    big.write_bytes(os.urandom(12 * MIB))  # three parts of 5, 5 and 2 MiB
    drop_files(page, [(clip, "video/mp4"), (photo, "image/jpeg")])
    page.locator("input[type=file]:not([webkitdirectory])").set_input_files(str(big))
    items = page.locator(".uploads li")
    poll(lambda: items.count() == 3, "three uploads listed", 10)
    page.wait_for_function(
        "() => [...document.querySelectorAll('.uploads li')]"
        ".every(li => li.dataset.state === 'done')",
        timeout=60_000,
    )
    assert page.get_by_test_id("upload-total").inner_text().startswith("100%")
    with services.pool.connection() as conn:
        uploaded = conn.execute(
            "SELECT filename, size_bytes, upload_id FROM media m JOIN users u ON u.id = m.owner_id"
            " WHERE u.username = %s ORDER BY filename",
            (name,),
        ).fetchall()
    sizes = [(r["filename"], r["size_bytes"]) for r in uploaded]
    assert sizes == [("big.mp4", 12 * MIB), ("clip.mp4", clip.stat().st_size),
                     ("photo.jpg", photo.stat().st_size)]  # fmt: skip
    assert all(r["upload_id"] is None for r in uploaded)  # the multipart upload was completed

    # The video goes from processing to ready, live in the grid.
    seen = {status_of_tile(page, "clip.mp4")}
    deadline = time.monotonic() + 90
    while status_of_tile(page, "clip.mp4") != "ready":
        assert time.monotonic() < deadline, f"clip.mp4 never became ready: {seen}"
        seen.add(status_of_tile(page, "clip.mp4"))
        page.wait_for_timeout(100)
    assert seen & {"pending", "processing"}, seen
    poll(lambda: status_of_tile(page, "photo.jpg") == "ready", "the photo ready", 60)
    # Random bytes are no video: the failed item says why and offers a retry.
    poll(lambda: status_of_tile(page, "big.mp4") == "failed", "big.mp4 failed", 60)
    failed = page.locator(".tile[data-status=failed]")
    assert failed.get_by_role("button", name="Retry").is_visible()
    assert failed.locator(".failed").inner_text().startswith("Failed:")
    page.screenshot(path=str(artifacts_dir / "web-library-desktop.png"))

    # Play it: real frames are decoded (Debian's Chromium has no HEVC: the original plays).
    page.get_by_role("button", name="Open clip.mp4").click()
    video = page.locator("dialog video")
    video.wait_for()
    page.wait_for_function(
        "() => (v => v.readyState >= 2 && v.videoWidth > 0)"
        "(document.querySelector('dialog video'))",
        timeout=20_000,
    )
    playing = page.evaluate(
        """async () => {
            const v = document.querySelector('dialog video');
            v.muted = true;
            await v.play();
            return {
                hevc: v.canPlayType('video/mp4; codecs="hvc1"'),
                src: v.currentSrc,
                width: v.videoWidth,
                frames: v.getVideoPlaybackQuality().totalVideoFrames,
            };
        }"""
    )
    assert playing["width"] == 320
    page.wait_for_function(
        f"() => document.querySelector('dialog video').getVideoPlaybackQuality().totalVideoFrames"
        f" > {playing['frames']} + 5",
        timeout=20_000,
    )
    if playing["hevc"] == "":
        assert "hevc" not in playing["src"]  # the fallback: the original
    page.screenshot(path=str(artifacts_dir / "web-viewer-desktop.png"))

    # Tag it, then filter the library by that tag.
    page.get_by_label("Add a tag").fill("beach")
    page.keyboard.press("Enter")
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Saved.").wait_for()
    page.get_by_role("button", name="Close viewer").click()
    page.locator("dialog[open]").wait_for(state="detached")
    page.get_by_label("Tag").select_option("beach")
    page.wait_for_url("**/?tag=beach")
    poll(lambda: page.locator(".tile").count() == 1, "only the tagged video", 10)
    assert tile(page, "clip.mp4").count() == 1
    page.get_by_role("button", name="Remove tag filter beach").click()
    poll(lambda: page.locator(".tile").count() == 3, "every item again", 10)

    # A collection with both, from the library's multi-select.
    page.get_by_role("button", name="Select", exact=True).click()
    page.get_by_role("button", name="Select clip.mp4").click()
    page.get_by_role("button", name="Select photo.jpg").click()
    page.get_by_role("button", name="Add to collection…").click()
    page.get_by_label("Title of the new collection").fill("Summer")
    page.get_by_role("button", name="Add", exact=True).click()
    page.get_by_text("Added 2 items to “Summer”.").wait_for()
    page.get_by_role("link", name="Collections").click()
    page.get_by_role("link", name="Summer").click()
    page.get_by_role("heading", name="Items (2)").wait_for()

    # Moving the last item up is one atomic order request, and the new order survives a reload.
    def order() -> list[str]:
        names: list[str] = page.locator(".items li .name").evaluate_all(
            "els => els.map(e => e.firstChild.textContent.trim())"
        )
        return names

    first, second = order()
    sent: list[str] = []
    page.on("request", lambda r: sent.append(f"{r.method} {r.url}"))
    page.get_by_role("button", name=f"Move {second} up").click()
    page.get_by_text("Order saved.").wait_for()
    assert order() == [second, first]
    assert [r for r in sent if "/api/collections/" in r and not r.startswith("GET ")] == [
        f"PUT {web_stack.url}/api/collections/{page.url.rsplit('/', 1)[-1]}/order"
    ]
    page.reload()
    page.get_by_role("heading", name="Items (2)").wait_for()
    assert order() == [second, first]

    # A share link with an expiry, a password and downloads allowed, opened by someone else.
    page.get_by_label("Expires").select_option(label="7 days")
    page.get_by_label("Password (optional)").fill("sand castle")
    page.get_by_label("Allow downloading originals").check()
    page.get_by_role("button", name="Create link").click()
    link = page.get_by_test_id("share-url").input_value()
    assert link.startswith(web_stack.url + "/s/")
    page.screenshot(path=str(artifacts_dir / "web-collection-desktop.png"), full_page=True)
    stranger = open_page(browser)
    stranger.goto(link)
    stranger.get_by_label("Password").fill("sand castle")
    stranger.get_by_role("button", name="Open").click()
    stranger.get_by_role("heading", name="Summer").wait_for()
    assert stranger.locator("figure").count() == 2
    assert stranger.get_by_role("link", name="Download").count() == 2
    page.reload()
    page.locator("td", has_text="password, downloads").wait_for()
    assert page.locator("tbody tr td").nth(3).inner_text() == "1"  # one view so far
    with services.pool.connection() as conn:
        row = conn.execute(
            "SELECT s.expires_at - s.created_at AS lifetime, s.expires_at FROM share_links s"
            " JOIN collections c ON c.id = s.collection_id JOIN users u ON u.id = c.owner_id"
            " WHERE u.username = %s",
            (name,),
        ).fetchone()
    assert row is not None
    assert row["lifetime"].total_seconds() == 7 * 24 * 3600
    shown = page.evaluate(
        "iso => new Date(iso).toLocaleString(undefined, {dateStyle: 'medium', timeStyle: 'short'})",
        row["expires_at"].isoformat(),
    )
    assert page.locator("tbody tr td").nth(1).inner_text() == shown
    page.get_by_role("button", name="Revoke").click()
    page.get_by_text("revoked").wait_for()
    stranger.reload()
    stranger.get_by_role("heading", name="Link not found").wait_for()

    assert problems(page) == []
    stranger.context.close()
    page.context.close()


def test_a_cancelled_upload_leaves_no_row_and_no_bytes(
    web_stack: WebStack, browser: Browser, services: Services, admin_storage: Storage,
    tmp_path: Path,
) -> None:  # fmt: skip
    name = web_stack.new_user()
    page = open_page(browser)
    sign_in(page, web_stack, name)
    # Slow the network so the upload is caught half-way.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 20, "downloadThroughput": -1, "uploadThroughput": 512 * 1024},
    )
    big = tmp_path / "slow.mp4"
    big.write_bytes(os.urandom(11 * MIB))
    page.locator("input[type=file]:not([webkitdirectory])").set_input_files(str(big))
    page.wait_for_function(
        "() => (li => li && li.dataset.state === 'uploading'"
        " && li.querySelector('progress').value > 0)"
        "(document.querySelector('.uploads li'))",
        timeout=30_000,
    )
    owner = user_id(services, name)
    with services.pool.connection() as conn:
        pending = conn.execute("SELECT id FROM media WHERE owner_id = %s", (owner,)).fetchall()
    assert len(pending) == 1
    key = f"uploads/{pending[0]['id']}"
    page.get_by_role("button", name="Cancel slow.mp4").click()
    page.locator(".uploads li[data-state=cancelled]").wait_for()

    def nothing_left() -> bool:
        with services.pool.connection() as conn:
            row = conn.execute("SELECT count(*) AS n FROM media WHERE owner_id = %s", (owner,))
            rows = row.fetchone()
        client, bucket = admin_storage.client, admin_storage.bucket
        objects = list(client.list_objects(bucket, prefix=key, recursive=True))
        uploads = client._list_multipart_uploads(bucket, prefix=key).uploads
        return rows == {"n": 0} and not objects and not uploads

    poll(nothing_left, "the cancelled upload's row, parts and object gone", 20)
    page.context.close()


def test_a_refused_type_says_why_and_sends_nothing(
    web_stack: WebStack, browser: Browser, services: Services, tmp_path: Path
) -> None:
    name = web_stack.new_user()
    page = open_page(browser)
    sign_in(page, web_stack, name)
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(f"{r.method} {r.url}"))
    drop_files(page, [(notes, "text/plain")])
    alert = page.get_by_role("alert").filter(has_text="notes.txt")
    alert.wait_for()
    assert "only photos, videos and audio" in alert.inner_text()
    assert not [r for r in requests if "/api/uploads" in r or r.startswith("PUT ")]
    with services.pool.connection() as conn:
        row = conn.execute(
            "SELECT count(*) AS n FROM media WHERE owner_id = %s", (user_id(services, name),)
        ).fetchone()
    assert row == {"n": 0}
    page.context.close()


def test_every_page_passes_axe_at_desktop_and_phone_size(
    web_stack: WebStack, browser: Browser, tmp_path: Path, artifacts_dir: Path
) -> None:
    name = web_stack.new_user()
    photo = lavfi(tmp_path / "sunset.jpg", "-f", "lavfi", "-i", "testsrc2=size=800x600",
                  "-frames:v", "1")  # fmt: skip
    report: dict[str, list[dict[str, Any]]] = {}
    for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
        page = open_page(browser, viewport)
        open_signed_out(page, web_stack)
        report[f"signin-{label}"] = axe_violations(page)
        page.screenshot(path=str(artifacts_dir / f"web-signin-{label}.png"))
        sign_in(page, web_stack, name)
        if label == "desktop":
            page.locator("input[type=file]:not([webkitdirectory])").set_input_files(str(photo))
            page.locator(".uploads li[data-state=done]").wait_for(timeout=30_000)
        page.locator(".tile[data-status=ready]").first.wait_for(timeout=60_000)
        report[f"library-{label}"] = axe_violations(page)
        page.screenshot(path=str(artifacts_dir / f"web-library-{label}.png"))
        page.get_by_role("button", name="Open sunset.jpg").click()
        page.locator("dialog[open] img").wait_for()
        report[f"viewer-{label}"] = axe_violations(page)
        page.screenshot(path=str(artifacts_dir / f"web-viewer-{label}.png"))
        page.keyboard.press("Escape")
        page.locator("dialog[open]").wait_for(state="detached")
        page.get_by_role("link", name="Collections").click()
        page.get_by_role("heading", name="New collection").wait_for()
        if label == "desktop":
            page.get_by_label("Title").fill("Holidays")
            page.get_by_role("button", name="Create").click()
            page.get_by_role("heading", name="Share links").wait_for()
            page.get_by_role("link", name="← Collections").click()
        page.get_by_role("link", name="Holidays").wait_for()
        report[f"collections-{label}"] = axe_violations(page)
        page.screenshot(path=str(artifacts_dir / f"web-collections-{label}.png"))
        page.get_by_role("link", name="Holidays").click()
        page.get_by_role("heading", name="Share links").wait_for()
        report[f"collection-{label}"] = axe_violations(page)
        page.screenshot(path=str(artifacts_dir / f"web-collection-{label}.png"), full_page=True)
        page.get_by_role("link", name="API tokens").click()
        page.get_by_label("What is it for?").fill(f"script on {label}")
        page.get_by_role("button", name="Create token").click()
        page.get_by_test_id("new-token").wait_for()
        report[f"tokens-{label}"] = axe_violations(page)
        page.screenshot(path=str(artifacts_dir / f"web-tokens-{label}.png"))
        assert problems(page) == []
        page.context.close()
    assert {page: found for page, found in report.items() if found} == {}
    assert len(list(artifacts_dir.glob("web-*-phone.png"))) >= 6


def test_the_viewer_signs_an_item_from_a_list_page_as_it_opens(
    web_stack: WebStack, browser: Browser, tmp_path: Path
) -> None:
    photo = lavfi(tmp_path / "dune.jpg", "-f", "lavfi", "-i", "testsrc2=size=800x600",
                  "-frames:v", "1")  # fmt: skip
    page = open_page(browser)
    sign_in(page, web_stack, web_stack.new_user())
    page.locator("input[type=file]:not([webkitdirectory])").set_input_files(str(photo))
    page.locator(".tile[data-status=ready]").first.wait_for(timeout=60_000)
    # From a fresh page the item comes from `GET /api/media`, which signs its thumbnails only.
    page.reload()
    page.locator(".tile[data-status=ready] img").first.wait_for()
    with page.expect_response(lambda r: "/api/media/" in r.url) as opened:
        page.get_by_role("button", name="Open dune.jpg").click()
    assert opened.value.ok
    shown = page.locator("dialog[open] img")
    page.wait_for_function("(img) => img.naturalWidth > 0", arg=shown.element_handle())
    assert "preview.webp" in (shown.get_attribute("src") or "")
    download = page.get_by_role("link", name="Download").get_attribute("href") or ""
    assert "response-content-disposition=attachment" in download
    assert problems(page) == []
    page.context.close()
