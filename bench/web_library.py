"""The web app's library of 10,000 items in Chromium: first thumbnails, memory while scrolling.

Seeds one user with 10,000 `ready` images straight into PostgreSQL (through the core's pool),
their thumbnail keys pointing at a handful of real WebP thumbnails made once with ffmpeg and put
in MinIO. The API's functions and the web function run behind the gateway (no worker); the user
is signed in by a session cookie made through the core.

1. First thumbnails: from navigation to the first grid <img> loaded (naturalWidth > 0) and the
   frame after it (performance.now() in the page, whose origin is the navigation), in a fresh
   browser context each time (empty cache), after one untimed warm-up; the median of --runs,
   with when the first `GET /api/media` was asked and answered (where the time goes).
2. Scrolling: the page scrolls a viewport at a time (waiting on frames, and on the next cursor
   page at the bottom) until the item at position 200, 1,000 and 2,000 has been shown. At each
   mark, after a forced GC (CDP HeapProfiler.collectGarbage): DOM elements
   (getElementsByTagName('*')), grid cells in the DOM, items loaded, and the JS heap used
   (CDP Runtime.getHeapUsage), beside the bytes of `GET /api/media` pages received so far (the
   items the library holds). The aim: bounded, not growing with the items scrolled; the ratios
   at 2,000 to 200 are printed.

Usage: .venv/bin/python bench/web_library.py [--items 10000] [--runs 5] [--thumbnails 8]
(needs `make web` first).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.web_stack import WebStack, chromium, web_stack  # noqa: E402
from mediavault.storage import Storage, derived_key  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

MARKS = (200, 1_000, 2_000)
MIB = 1024 * 1024

SEED_MEDIA = """
INSERT INTO media (owner_id, filename, content_type, kind, status, size_bytes, original_key,
                   thumbnail_key, preview_key, width, height, sha256, created_at)
SELECT %(owner)s::uuid, 'photo-' || n || '.jpg', 'image/jpeg', 'image', 'ready', 2000000,
       'originals/' || %(owner)s::text || '/' || md5(%(owner)s::text || n) || '.jpg',
       (%(thumbnails)s::text[])[1 + n %% cardinality(%(thumbnails)s::text[])],
       (%(thumbnails)s::text[])[1 + n %% cardinality(%(thumbnails)s::text[])],
       4000, 3000, encode(sha256(convert_to(%(owner)s::text || n, 'UTF8')), 'hex'),
       now() - make_interval(secs => n)
FROM generate_series(1, %(count)s) AS n
"""

# Set before the app's own scripts: when the first <img> of the page loaded, and the frame after.
WATCH_THUMBNAILS = """
window.__firstThumb = null;
document.addEventListener('load', (event) => {
  const img = event.target;
  if (window.__firstThumb !== null || !(img instanceof HTMLImageElement)) return;
  if (!img.closest('.cell') || img.naturalWidth === 0) return;
  const loaded = performance.now();
  window.__firstThumb = {loaded, painted: null};
  requestAnimationFrame(() => requestAnimationFrame(() => {
    window.__firstThumb.painted = performance.now();
  }));
}, true);
"""

# One step down: wait (frame by frame) while at the bottom for the next page to lengthen the
# grid, scroll a viewport, let the grid re-measure; the highest position now in the DOM.
SCROLL_STEP = """async (timeoutMs) => {
  const frame = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));
  const bottom = () => document.documentElement.scrollHeight - innerHeight;
  const started = performance.now();
  while (scrollY >= bottom() - 1) {
    if (performance.now() - started > timeoutMs) throw new Error('no next page came');
    await frame();
  }
  scrollBy(0, innerHeight);
  await frame();
  await frame();
  const cells = [...document.querySelectorAll('.cell')];
  return Math.max(0, ...cells.map((c) => Number(c.getAttribute('aria-posinset'))));
}"""

SNAPSHOT = """() => {
  const cell = document.querySelector('.cell');
  return {
    elements: document.getElementsByTagName('*').length,
    cells: document.querySelectorAll('.cell').length,
    images: document.querySelectorAll('.cell img').length,
    loaded: cell ? Number(cell.getAttribute('aria-setsize')) : 0,
    listed: performance.getEntriesByType('resource')
      .filter((r) => new URL(r.name).pathname === '/api/media')
      .reduce((sum, r) => sum + r.decodedBodySize, 0),
  };
}"""


def thumbnails(directory: Path, count: int) -> list[Path]:
    """Distinct small WebP thumbnails (frames of a moving test pattern), in one ffmpeg run."""
    directory.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=400x300:rate=1",
         "-frames:v", str(count), "-c:v", "libwebp", "-quality", "75",
         str(directory / "thumb-%02d.webp")],
        check=True, timeout=120,
    )  # fmt: skip
    return sorted(directory.glob("thumb-*.webp"))


def seed(web: WebStack, owner: str, files: list[Path], count: int) -> None:
    """The thumbnails in MinIO (as the worker would leave them), then `count` ready rows."""
    root = web.stack.layout.provision.root
    admin = Storage(
        replace(web.stack.settings.storage, access_key=root.access_key, secret_key=root.secret_key)
    )
    keys = []
    for index, path in enumerate(files):
        key = derived_key(f"bench-thumbnail-{index}", "thumb.webp")
        admin.client.fput_object(admin.bucket, key, str(path), content_type="image/webp")
        keys.append(key)
    with web.services.pool.connection() as conn:
        conn.execute(SEED_MEDIA, {"owner": owner, "count": count, "thumbnails": keys})
        conn.execute("ANALYZE media")


def first_thumbnail(
    browser: Browser, web: WebStack, session: str
) -> tuple[float, float, float, float]:
    """Milliseconds from navigation to the first grid thumbnail loaded, to the frame after, and
    (for where the time goes) to the first `GET /api/media` request's start and answer's end."""
    context = web.signed_in(browser, session)
    try:
        context.add_init_script(WATCH_THUMBNAILS)
        page = context.new_page()
        page.goto(web.url + "/")
        page.wait_for_function(
            "() => window.__firstThumb !== null && window.__firstThumb.painted !== null",
            timeout=60_000,
        )
        times: dict[str, float] = page.evaluate("window.__firstThumb")
        listed: list[float] = page.evaluate(
            "(r => [r.startTime, r.responseEnd])(performance.getEntriesByType('resource')"
            ".find((r) => new URL(r.name).pathname === '/api/media'))"
        )
        first = page.locator(".cell img").first
        assert first.evaluate("(img) => img.complete && img.naturalWidth > 0")
        return times["loaded"], times["painted"], listed[0], listed[1]
    finally:
        context.close()


def snapshot(page: Page, cdp: Any) -> dict[str, float]:
    """DOM and grid counts, and the JS heap used after a forced garbage collection."""
    cdp.send("HeapProfiler.collectGarbage")
    heap = cdp.send("Runtime.getHeapUsage")
    counts: dict[str, float] = page.evaluate(SNAPSHOT)
    return {**counts, "heap": float(heap["usedSize"])}


def scrolling(browser: Browser, web: WebStack, session: str) -> dict[int, dict[str, float]]:
    """Scroll down until each mark has been shown; a snapshot at each."""
    context = web.signed_in(browser, session)
    try:
        page = context.new_page()
        cdp = context.new_cdp_session(page)
        cdp.send("HeapProfiler.enable")
        page.goto(web.url + "/")
        page.locator(".cell img").first.wait_for()
        found: dict[int, dict[str, float]] = {}
        shown = 0
        steps = 0
        for mark in MARKS:
            while shown < mark:
                shown = page.evaluate(SCROLL_STEP, 30_000)
                steps += 1
            found[mark] = {**snapshot(page, cdp), "shown": shown, "steps": steps}
        return found
    finally:
        context.close()


def main() -> None:
    """Seed, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--thumbnails", type=int, default=8)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="mediavault-bench-web-library-"))
    try:
        files = thumbnails(scratch / "thumbnails", args.thumbnails)
        with web_stack("mediavault-bench-web-library-") as web:
            owner, session = web.new_user()
            seed(web, owner, files, args.items)
            each = sum(p.stat().st_size for p in files) / len(files) / 1024
            print(f"{args.items:,} ready items; {args.thumbnails} WebP thumbnails, {each:.1f} KiB")
            with chromium() as browser:
                first_thumbnail(browser, web, session)  # warm-up: functions, database
                runs = [first_thumbnail(browser, web, session) for _ in range(args.runs)]
                loaded = statistics.median(r[0] for r in runs)
                painted = statistics.median(r[1] for r in runs)
                print(
                    f"first thumbnail, navigation to loaded / to the frame after (ms), median of"
                    f" {args.runs}: {loaded:.0f} / {painted:.0f}"
                    f"  (runs: {', '.join(f'{r[1]:.0f}' for r in runs)})"
                )
                asked = statistics.median(r[2] for r in runs)
                answered = statistics.median(r[3] for r in runs)
                print(
                    f"  its first GET /api/media: asked at {asked:.0f}, answered at {answered:.0f}"
                )
                marks = scrolling(browser, web, session)
            print(
                f"{'scrolled to':>12}{'loaded':>8}{'elements':>10}{'cells':>7}{'imgs':>6}"
                f"{'heap MiB':>10}{'JSON MiB':>10}{'steps':>7}"
            )
            for seen in marks.values():
                print(
                    f"{int(seen['shown']):>12,}{int(seen['loaded']):>8,}"
                    f"{int(seen['elements']):>10,}"
                    f"{int(seen['cells']):>7}{int(seen['images']):>6}{seen['heap'] / MIB:>10.2f}"
                    f"{seen['listed'] / MIB:>10.2f}"
                    f"{int(seen['steps']):>7}"
                )
            low, high = marks[MARKS[0]], marks[MARKS[-1]]
            more = high["loaded"] - low["loaded"]
            print(
                f"per item loaded from {MARKS[0]:,} to {MARKS[-1]:,}: JS heap"
                f" {(high['heap'] - low['heap']) / more / 1024:.2f} KiB, its JSON"
                f" {(high['listed'] - low['listed']) / more / 1024:.2f} KiB"
            )
            print(
                f"at {MARKS[-1]:,} vs {MARKS[0]:,}: DOM elements"
                f" {high['elements'] / low['elements']:.2f}x, JS heap"
                f" {high['heap'] / low['heap']:.2f}x"
            )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
