"""Upload throughput of one large file through the web app in Chromium against curl (aim ≥ 0.8x).

The file (500 MiB by default, a WAV so that it is accepted) is picked on the library page's file
input (Playwright's set_input_files, as a person picking it); the app announces it, Uppy PUTs its
parts to MinIO's presigned URLs (as many at once as the app's PARALLEL_REQUESTS) and the app
completes it. Timed: from the file set on the input until the app lists the upload as done (the
media row's size is then checked). Each run in a fresh browser context.

Against it, curl PUTs the same bytes to presigned part URLs of the same kind (announced the same
way, without a checksum, so the part size and URLs are the app's), then completes the upload
with curl: parts one after the other, and as many at once as the app. The announce and the split
into part files happen before the clock starts: curl's side is the transfer and the completion.
A third side, to tell Uppy's share from Chromium's: the same kind of part URLs PUT by fetch()
from slices of the picked File in the page, as many at once as the app, no Uppy (then completed).

After one untimed upload through the app (the functions' first requests), --runs rounds of the
three, interleaved so that a change in the machine's load hits each alike; best and median MiB/s
of each, and the app's ratio to each of curl's. Beside them, the CPU time per GiB of the
sending side (Chromium's processes, or curl's) and of MinIO, all this script's own. Only the
API's functions, the web function and the gateway run (no worker): uploads are timed, not
processing.
Usage: .venv/bin/python bench/web_upload.py [--mib 500] [--runs 3]  (needs `make web` first)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.client_upload import MIB, curl_put, put_part, wav_file  # noqa: E402
from bench.web_stack import WebStack, chromium, web_stack  # noqa: E402
from mediavault.users import create_api_token  # noqa: E402

if TYPE_CHECKING:
    from playwright.sync_api import Browser

T = TypeVar("T")
MANAGER = ROOT / "web" / "src" / "lib" / "uploads" / "manager.svelte.ts"


def tree_cpu() -> dict[str, float]:
    """CPU seconds (user + system) so far of this script's live descendants, by command name:
    Chromium's processes and MinIO (others on the machine are not counted); and curl's, which
    have exited and been waited for (RUSAGE_CHILDREN)."""
    parents: dict[int, tuple[int, str, float]] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # gone meanwhile
        name = text[text.index("(") + 1 : text.rindex(")")]
        fields = text[text.rindex(")") + 2 :].split()
        parents[int(stat.parent.name)] = (
            int(fields[1]),
            name,
            (int(fields[11]) + int(fields[12])) / tick,
        )
    mine = {os.getpid()}
    grew = True
    while grew:
        found = {pid for pid, (parent, _, _) in parents.items() if parent in mine} - mine
        grew = bool(found)
        mine |= found
    used = {"chromium": 0.0, "minio": 0.0}
    for pid in mine - {os.getpid()}:
        _, name, seconds = parents[pid]
        if name.startswith("chrom"):
            used["chromium"] += seconds
        elif name == "minio":
            used["minio"] += seconds
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    used["curl"] = children.ru_utime + children.ru_stime
    return used


def app_parallelism() -> int:
    """Requests the app has in flight to storage at once (its PARALLEL_REQUESTS)."""
    found = re.search(r"const PARALLEL_REQUESTS = (\d+);", MANAGER.read_text())
    assert found is not None, f"no PARALLEL_REQUESTS in {MANAGER}"
    return int(found.group(1))


def uploaded_size(web: WebStack, owner: str, filename: str) -> list[int]:
    """The sizes of the owner's media rows with this filename whose upload was completed."""
    with web.services.pool.connection() as conn:
        rows = conn.execute(
            "SELECT size_bytes FROM media WHERE owner_id = %s AND filename = %s"
            " AND upload_id IS NULL",
            (owner, filename),
        ).fetchall()
    return [int(row["size_bytes"]) for row in rows]


# In the page, from its resource timings: when the first part's PUT started and the last ended.
PART_TIMES = """() => {
  const parts = performance.getEntriesByType('resource')
    .filter((r) => new URL(r.name).searchParams.has('partNumber'));
  const announce = performance.getEntriesByType('resource')
    .find((r) => new URL(r.name).pathname === '/api/uploads');
  return {
    announced: announce ? announce.responseEnd : NaN,
    count: parts.length,
    first: Math.min(...parts.map((r) => r.startTime)),
    last: Math.max(...parts.map((r) => r.responseEnd)),
    now: performance.now(),
  };
}"""


def through_app(browser: Browser, web: WebStack, path: Path) -> tuple[float, dict[str, float]]:
    """Seconds from picking the file on the library page to the app's upload done; and where
    they went (seconds): to the announce's answer and to the first part's PUT, from it to the
    last part's end, after it."""
    owner, session = web.new_user()
    context = web.signed_in(browser, session)
    try:
        page = context.new_page()
        page.goto(web.url + "/")
        page.get_by_role("heading", name="Library").wait_for()
        picker = page.locator("input[type=file]:not([webkitdirectory])")
        page.evaluate("performance.setResourceTimingBufferSize(10000)")
        picked: float = page.evaluate("performance.now()")
        started = time.perf_counter()
        picker.set_input_files(str(path))
        page.wait_for_function(
            "() => (li => li !== null && ['done', 'failed'].includes(li.dataset.state))"
            "(document.querySelector('.uploads li'))",
            timeout=600_000,
        )
        seconds = time.perf_counter() - started
        times: dict[str, float] = page.evaluate(PART_TIMES)
        state = page.locator(".uploads li").get_attribute("data-state")
        assert state == "done", page.locator(".uploads li").inner_text()
    finally:
        context.close()
    sizes = uploaded_size(web, owner, path.name)
    assert sizes == [path.stat().st_size], sizes
    split = {
        "parts": times["count"],
        "announced": (times["announced"] - picked) / 1000,
        "before": (times["first"] - picked) / 1000,
        "sending": (times["last"] - times["first"]) / 1000,
        "after": (times["now"] - times["last"]) / 1000,
    }
    return seconds, split


class StartedUpload(NamedTuple):
    """A new user's upload of the bench file, as the curl and fetch sides start it."""

    owner: str
    token: str
    answer: dict[str, Any]


def started_upload(web: WebStack, path: Path) -> StartedUpload:
    """A new user, their token and the multipart presign answer for `path`."""
    owner, _ = web.new_user()
    with web.services.pool.connection() as conn:
        token = create_api_token(conn, owner, "bench").token
    auth = {"Authorization": f"Bearer {token}"}
    body = {"filename": path.name, "content_type": "audio/wav", "size_bytes": path.stat().st_size}
    answer: dict[str, Any] = httpx.post(
        f"{web.url}/api/uploads", json=body, headers=auth, timeout=60
    ).json()
    assert "parts" in answer, answer  # below the multipart threshold: use a larger --mib
    return StartedUpload(owner, token, answer)


def through_curl(web: WebStack, path: Path, parts_dir: Path, parallel: int) -> float:
    """Seconds curl takes to PUT the parts (`parallel` at once) and complete the upload."""
    owner, token, answer = started_upload(web, path)
    commands = []
    with path.open("rb") as source:
        for part in answer["parts"]:
            piece = parts_dir / f"{answer['media_id']}-{part['part_number']}"
            piece.write_bytes(source.read(part["size"]))
            commands.append(curl_put(part["url"], piece, {}))
    complete = f"{web.url}/api/uploads/{answer['media_id']}/complete"

    def upload() -> None:
        with ThreadPoolExecutor(parallel) as pool:
            etags = list(pool.map(put_part, commands))
        done = json.dumps({"parts": [{"part_number": n, "etag": etag}
                                     for n, etag in enumerate(etags, 1)]})  # fmt: skip
        subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-X", "POST", "-H",
                        f"Authorization: Bearer {token}", "-H", "Content-Type: application/json",
                        "-d", done, complete], check=True)  # fmt: skip

    started = time.perf_counter()
    upload()
    seconds = time.perf_counter() - started
    for piece in parts_dir.iterdir():
        piece.unlink()
    sizes = uploaded_size(web, owner, path.name)
    assert sizes == [path.stat().st_size], sizes
    return seconds


# The same part URLs PUT from the page with fetch() and slices of the picked File, `parallel` at
# a time, no Uppy: what Chromium itself does with them. The ETags, in part order.
FETCH_PARTS = """async ([parts, parallel]) => {
  const file = document.getElementById('bench-file').files[0];
  const etags = new Array(parts.length);
  let next = 0;
  let offset = 0;
  const starts = parts.map((p) => { const at = offset; offset += p.size; return at; });
  async function worker() {
    while (next < parts.length) {
      const index = next++;
      const part = parts[index];
      const body = file.slice(starts[index], starts[index] + part.size);
      const answer = await fetch(part.url, {method: 'PUT', body});
      if (!answer.ok) throw new Error(`part ${part.part_number}: ${answer.status}`);
      etags[index] = answer.headers.get('ETag');
    }
  }
  await Promise.all(Array.from({length: parallel}, worker));
  return etags;
}"""


def through_fetch(browser: Browser, web: WebStack, path: Path, parallel: int) -> float:
    """Seconds Chromium's fetch() takes to PUT the parts from the picked file, and complete."""
    owner, token, answer = started_upload(web, path)
    auth = {"Authorization": f"Bearer {token}"}
    context = browser.new_context()
    try:
        page = context.new_page()
        page.goto(web.url + "/")  # the app's origin and its CSP, which lets storage be reached
        page.evaluate(
            "document.body.appendChild(Object.assign(document.createElement('input'),"
            " {type: 'file', id: 'bench-file'}))"
        )
        page.set_input_files("#bench-file", str(path))
        started = time.perf_counter()
        etags: list[str] = page.evaluate(FETCH_PARTS, [answer["parts"], parallel])
        done = httpx.post(
            f"{web.url}/api/uploads/{answer['media_id']}/complete",
            json={"parts": [{"part_number": n, "etag": e} for n, e in enumerate(etags, 1)]},
            headers=auth,
            timeout=120,
        )
        seconds = time.perf_counter() - started
        assert done.status_code == 200, done.text
    finally:
        context.close()
    sizes = uploaded_size(web, owner, path.name)
    assert sizes == [path.stat().st_size], sizes
    return seconds


def summary(name: str, mib: float, seconds: list[float]) -> tuple[float, float]:
    """Print best and median MiB/s of the runs; return them."""
    rates = [mib / s for s in seconds]
    best, median = max(rates), statistics.median(rates)
    runs = ", ".join(f"{r:.0f}" for r in rates)
    print(f"  {name:<34} best {best:6.1f} MiB/s, median {median:6.1f} MiB/s  (runs: {runs})")
    return best, median


def main() -> None:
    """Start the stack and Chromium, upload through the app and with curl, print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--mib", type=int, default=500)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    parallel = app_parallelism()
    scratch = Path(tempfile.mkdtemp(prefix="mediavault-bench-web-upload-"))
    try:
        path = wav_file(scratch / "big.wav", args.mib * MIB)
        mib = path.stat().st_size / MIB
        parts_dir = scratch / "parts"
        parts_dir.mkdir()
        with web_stack("mediavault-bench-web-upload-") as web, chromium() as browser:
            through_app(browser, web, path)  # warm-up, untimed: the functions' first requests
            measured, fetched, one, many = [], [], [], []
            cpu: dict[str, dict[str, float]] = {}

            def counted(side: str, run: Callable[[], T]) -> T:
                before = tree_cpu()
                result = run()
                after = tree_cpu()
                spent = cpu.setdefault(side, dict.fromkeys(before, 0.0))
                for name in before:
                    spent[name] += after[name] - before[name]
                return result

            for _ in range(args.runs):  # interleaved: a change in the machine's load hits all
                measured.append(counted("app", lambda: through_app(browser, web, path)))
                fetched.append(
                    counted("fetch", lambda: through_fetch(browser, web, path, parallel))
                )
                one.append(counted("curl 1", lambda: through_curl(web, path, parts_dir, 1)))
                many.append(counted("curl N", lambda: through_curl(web, path, parts_dir, parallel)))
            app = [seconds for seconds, _ in measured]
            part_mib = web.stack.settings.uploads.multipart_part_size_bytes / MIB
            print(f"{mib:.0f} MiB WAV, {part_mib:.0f} MiB parts, the app's parallelism {parallel}")
            app_best, app_median = summary("web app in Chromium (end to end)", mib, app)
            for _, split in measured:
                print(
                    f"    {int(split['parts'])} parts; {split['announced']:.2f} s to the"
                    f" announce's answer, {split['before']:.2f} s to the first"
                    f" part's PUT, {split['sending']:.2f} s to the last part's end"
                    f" ({mib / split['sending']:.0f} MiB/s), {split['after']:.2f} s to done"
                )
            for name, seconds in ((f"Chromium fetch(), {parallel} at a time", fetched),
                                  ("curl, parts one by one", one),
                                  (f"curl, {parallel} parts at a time", many)):  # fmt: skip
                best, median = summary(name, mib, seconds)
                print(
                    f"    app / this: best {app_best / best:.2f}x, median"
                    f" {app_median / median:.2f}x"
                )
            gib = mib / 1024 * args.runs
            print("CPU seconds per GiB sent (this script's own processes only; the browser's")
            print("include loading the page):")
            for side, spent in cpu.items():
                client = spent["curl"] if side.startswith("curl") else spent["chromium"]
                print(f"  {side:<6} client {client / gib:5.2f}  MinIO {spent['minio'] / gib:5.2f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
