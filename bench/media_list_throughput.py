"""Throughput of `GET /api/media?limit=50` with 50 requests in flight: a git ref vs this tree.

Starts a throwaway stack and seeds one user with --items `ready` media as the worker leaves
them (half photos, half videos, every rendition present, two tags each). Then it starts the
media function twice, each as its container runs it (functions-framework/gunicorn, one process):
once from --ref (exported with `git archive` into a temporary directory and put first on
PYTHONPATH) and once from this tree, against the same database and MinIO. Rounds alternate
between the two (ABBA); in each, wrk keeps 50 connections busy for --seconds with pages of the
whole library in a seeded random order (the same pages for both). Prints, for both: requests/s,
p50 and p99 latency, and the function's CPU time (all its processes, from /proc) per listed
item; then this tree's figures over the ref's, and what PostgreSQL and wrk spent per request
(they share the cores). wrk, a C load generator, leaves the CPU to what is measured.
Usage: .venv/bin/python bench/media_list_throughput.py [--ref main] [--rounds 3] [--seconds 10]
(needs `apt-get install wrk`)
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediavault.devstack.services import ServiceSpec, function_specs  # noqa: E402
from mediavault.pagination import Cursor  # noqa: E402
from mediavault.services import Services  # noqa: E402
from mediavault.users import create_api_token, get_or_create_local_user  # noqa: E402
from tests.harness import RunningProcess, Stack, free_port, running_stack  # noqa: E402

PAGE = 50
IN_FLIGHT = 50
TAGS = 20

# Odd rows are videos (HEVC playback, H.264 web rendition, WebP and JPEG thumbnails), even rows
# photos (WebP and JPEG thumbnail and preview): what the worker writes for each.
SEED_MEDIA = """
INSERT INTO media (owner_id, filename, content_type, kind, status, size_bytes, sha256,
                   original_key, playback_key, web_key, thumbnail_key, thumbnail_jpeg_key,
                   preview_key, preview_jpeg_key, width, height, duration_ms, video_codec,
                   audio_codec, original_codecs, playback_codecs, web_codecs, taken_at,
                   taken_at_offset, camera_make, camera_model, created_at)
SELECT %(owner)s::uuid,
       CASE WHEN v THEN 'clip-' || n || '.mp4' ELSE 'IMG_' || n || '.jpg' END,
       CASE WHEN v THEN 'video/mp4' ELSE 'image/jpeg' END,
       CASE WHEN v THEN 'video' ELSE 'image' END,
       'ready', 1000000 + n, encode(sha256(convert_to(%(owner)s::text || n, 'UTF8')), 'hex'),
       'originals/' || d || CASE WHEN v THEN '.mp4' ELSE '.jpg' END,
       CASE WHEN v THEN 'derived/' || d || '/hevc.mp4' END,
       CASE WHEN v THEN 'derived/' || d || '/web.mp4' END,
       'derived/' || d || '/thumb.webp', 'derived/' || d || '/thumb.jpg',
       CASE WHEN v THEN NULL ELSE 'derived/' || d || '/preview.webp' END,
       CASE WHEN v THEN NULL ELSE 'derived/' || d || '/preview.jpg' END,
       4032, 3024, CASE WHEN v THEN 15000 END, CASE WHEN v THEN 'h264' END,
       CASE WHEN v THEN 'aac' END, CASE WHEN v THEN 'avc1.640028, mp4a.40.2' END,
       CASE WHEN v THEN 'hvc1.1.6.L93.B0, mp4a.40.2' END,
       CASE WHEN v THEN 'avc1.640028, mp4a.40.2' END,
       now() - make_interval(days => n), 120, 'Apple', 'iPhone 15',
       now() - make_interval(secs => n)
FROM (SELECT n, n %% 2 = 1 AS v, %(owner)s::text || '/' || md5(%(owner)s::text || n) AS d
      FROM generate_series(1, %(count)s) AS n) AS s
"""

# wrk's Lua: each request a page drawn from the list (the same draws for both functions), and
# one parseable line at the end (latencies in microseconds).
WRK_SCRIPT = """
local pages = {}
for line in io.lines(os.getenv("BENCH_PAGES")) do pages[#pages + 1] = line end
math.randomseed(tonumber(os.getenv("BENCH_SEED")))
wrk.headers["Authorization"] = os.getenv("BENCH_AUTH")
request = function() return wrk.format("GET", pages[math.random(#pages)]) end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99),
    e.status + e.connect + e.read + e.write + e.timeout))
end
"""

SEED_TAGS = """
WITH made AS (
    INSERT INTO tags (owner_id, name)
    SELECT %(owner)s::uuid, 'tag-' || t FROM generate_series(1, %(tags)s) AS t RETURNING id, name
)
INSERT INTO media_tags (media_id, tag_id)
SELECT m.id, made.id FROM media m JOIN made
  ON made.name IN ('tag-' || (1 + abs(hashtext(m.id::text)) %% %(tags)s),
                   'tag-' || (1 + abs(hashtext(m.id::text || 'b')) %% %(tags)s))
WHERE m.owner_id = %(owner)s::uuid
"""


@dataclass
class Arm:
    """One function process under test and what it measured, round by round."""

    name: str
    url: str
    running: RunningProcess
    requests: int = 0
    seconds: float = 0.0
    p50s: list[float] = field(default_factory=list)  # ms, one per round
    p99s: list[float] = field(default_factory=list)
    cpu_seconds: float = 0.0
    database_cpu_seconds: float = 0.0
    client_cpu_seconds: float = 0.0


def seed(services: Services, count: int) -> tuple[dict[str, str], list[str]]:
    """A user with `count` ready media; its auth header and the query of every full page."""
    with services.pool.connection() as conn:
        user = get_or_create_local_user(conn, "bench-throughput")
        token = create_api_token(conn, user.id, "bench")
        conn.execute(SEED_MEDIA, {"owner": user.id, "count": count})
        conn.execute(SEED_TAGS, {"owner": user.id, "tags": TAGS})
        boundaries = conn.execute(
            "SELECT created_at, id FROM (SELECT created_at, id, row_number() OVER"
            " (ORDER BY created_at DESC, id DESC) AS r FROM media WHERE owner_id = %s) AS o"
            " WHERE r %% %s = 0 AND r <= %s ORDER BY r",
            (user.id, PAGE, count - PAGE),
        ).fetchall()
    with services.pool.connection() as conn:
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")
    pages = [f"/api/media?limit={PAGE}"]
    pages += [
        f"/api/media?limit={PAGE}&cursor={Cursor(row['created_at'], str(row['id'])).encode()}"
        for row in boundaries
    ]
    return {"Authorization": f"Bearer {token.token}"}, pages


def export_ref(ref: str, target: Path) -> str:
    """The ref's `mediavault` and `functions` in `target`; the commit it names."""
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--verify", f"{ref}^{{commit}}"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", "--format=tar", commit, "mediavault", "functions"],
        check=True, capture_output=True,
    ).stdout  # fmt: skip
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(target, filter="data")
    return commit[:12]


def start_function(stack: Stack, name: str, source_root: Path) -> Arm:
    """The media function of `source_root`, as its container starts it, on a free port."""
    [spec] = [s for s in function_specs(stack.layout, stack.binaries) if s.name == "fn-media"]
    port = free_port()
    env = {**spec.env, "PYTHONPATH": str(source_root)}  # first: before the editable install
    # From "/": `python -c` puts its working directory first on sys.path, a script does not.
    python = str(stack.binaries.python_bin / "python")
    probe = subprocess.run(
        [python, "-c", "import mediavault as m; print(m.__file__)"],
        env={**stack.env, **env}, cwd="/", check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    if not probe.startswith(str(source_root)):
        raise SystemExit(f"{name}: mediavault comes from {probe}, not {source_root}")
    argv = (
        str(stack.binaries.python_bin / "functions-framework"),
        "--source", str(source_root / "functions" / "media" / "main.py"),
        "--target", "media",
        "--host", "127.0.0.1",
        "--port", str(port),
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    running = stack.processes.start(
        ServiceSpec(f"fn-media-{name}", argv, ready_url=f"{url}/healthz", env=env)
    )
    return Arm(name, url, running)


def cpu_seconds(root: int) -> float:
    """CPU time of a process and its children, live (its group, or its direct children: each
    PostgreSQL backend is a session of its own) and reaped."""
    ticks = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        if int(entry.name) == root:
            ticks += sum(int(value) for value in fields[11:15])  # utime, stime, cutime, cstime
        elif root in (int(fields[1]), int(fields[2])):  # ppid, pgrp
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")


def wrk(
    arm: Arm, files: tuple[Path, Path], auth: dict[str, str], seconds: float, *, seed: int
) -> tuple[int, float, float, float]:
    """IN_FLIGHT connections for `seconds`: requests done, seconds, p50 and p99 (ms)."""
    script, pages = files
    env = {**os.environ, "BENCH_PAGES": str(pages), "BENCH_SEED": str(seed),
           "BENCH_AUTH": auth["Authorization"]}  # fmt: skip
    done = subprocess.run(
        ["wrk", "--threads", "2", "--connections", str(IN_FLIGHT), "--duration", f"{seconds:g}s",
         "--timeout", "60s", "--script", str(script), arm.url],
        env=env, check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    [result] = [line.split()[1:] for line in done.splitlines() if line.startswith("RESULT ")]
    requests, micros, p50, p99, bad = (int(value) for value in result)
    if bad:
        raise SystemExit(f"{arm.name}: {bad} requests failed or were not 200:\n{done}")
    return requests, micros / 1e6, p50 / 1000, p99 / 1000


def round_of(
    stack: Stack, arm: Arm, files: tuple[Path, Path], auth: dict[str, str], *, seconds: float,
    seed: int,
) -> None:  # fmt: skip
    """One measured round against one arm."""
    group, database = arm.running.process.pid, stack.processes.running["postgres"].process.pid
    cpu_before, database_before = cpu_seconds(group), cpu_seconds(database)
    client_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    requests, elapsed, p50, p99 = wrk(arm, files, auth, seconds, seed=seed)
    client = resource.getrusage(resource.RUSAGE_CHILDREN)
    arm.client_cpu_seconds += (client.ru_utime + client.ru_stime
                               - client_before.ru_utime - client_before.ru_stime)  # fmt: skip
    arm.cpu_seconds += cpu_seconds(group) - cpu_before
    arm.database_cpu_seconds += cpu_seconds(database) - database_before
    arm.requests += requests
    arm.seconds += elapsed
    arm.p50s.append(p50)
    arm.p99s.append(p99)


def check_pages(arm: Arm, pages: list[str], auth: dict[str, str]) -> None:
    """Every sampled page is full and every item has its thumbnail URL."""
    for path in (pages[0], pages[-1]):
        body = httpx.get(arm.url + path, headers=auth, timeout=60).json()
        assert len(body["items"]) == PAGE, path
        assert all(item["urls"]["thumbnail"] for item in body["items"])


def main() -> None:
    """Seed, start both functions, alternate rounds, print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--ref", default="main", help="the baseline (default: main)")
    parser.add_argument("--items", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args()
    baseline = Path(tempfile.mkdtemp(prefix="mediavault-bench-ref-"))
    try:
        commit = export_ref(args.ref, baseline)
        with running_stack("mediavault-bench-throughput-") as stack:
            run(stack, baseline, f"{args.ref} ({commit})", args)
    finally:
        shutil.rmtree(baseline, ignore_errors=True)


def run(stack: Stack, baseline: Path, ref_name: str, args: argparse.Namespace) -> None:
    """The measurements against a running stack."""
    services = Services.from_settings(stack.settings)
    services.pool.wait(timeout=30)
    auth, pages = seed(services, args.items)
    services.close()
    files = (stack.layout.data_dir / "pages.lua", stack.layout.data_dir / "pages.txt")
    files[0].write_text(WRK_SCRIPT)
    files[1].write_text("".join(f"{page}\n" for page in pages))
    arms = [start_function(stack, "before", baseline), start_function(stack, "after", ROOT)]
    for arm in arms:
        check_pages(arm, pages, auth)
        wrk(arm, files, auth, 3.0, seed=0)  # warm-up, not counted
    for number in range(args.rounds):
        for arm in arms if number % 2 == 0 else arms[::-1]:
            round_of(stack, arm, files, auth, seconds=args.seconds, seed=number + 1)
    names = {"before": ref_name, "after": "this tree"}
    print(
        f"GET /api/media?limit={PAGE}, {IN_FLIGHT} connections (wrk), {args.rounds} rounds x "
        f"{args.seconds:g} s each, alternating; {args.items:,} items in {len(pages)} pages"
    )
    print("p50/p99: the median of the rounds' own; CPU: the function's processes")
    print(f"{'code':<26}{'requests/s':>11}{'p50 ms':>9}{'p99 ms':>9}{'CPU ms/item':>13}")
    figures = {}
    for arm in arms:
        rate = arm.requests / arm.seconds
        p50, p99 = statistics.median(arm.p50s), statistics.median(arm.p99s)
        per_item = arm.cpu_seconds * 1000 / (arm.requests * PAGE)
        figures[arm.name] = (rate, p50, p99, per_item)
        print(f"{names[arm.name]:<26}{rate:>11.1f}{p50:>9.0f}{p99:>9.0f}{per_item:>13.3f}")
    ratio = [a / b for a, b in zip(figures["after"], figures["before"], strict=True)]
    print(f"{'this tree / ref':<26}{ratio[0]:>10.2f}x{ratio[1]:>8.2f}x{ratio[2]:>8.2f}x"
          f"{ratio[3]:>12.2f}x")  # fmt: skip
    print("CPU ms per request on the same cores, elsewhere:")
    for arm in arms:
        database = arm.database_cpu_seconds * 1000 / arm.requests
        client = arm.client_cpu_seconds * 1000 / arm.requests
        print(f"  {names[arm.name]:<24}PostgreSQL {database:6.2f}   wrk {client:6.2f}")


if __name__ == "__main__":
    main()
