"""Transcode cost: raw ffmpeg vs the pipeline from upload complete to `ready` (median ratios).

Generates a 10 s 720p and a 10 s 1080p clip (lavfi testsrc2 with temporal noise, H.264 + AAC)
into a temp dir, starts a throwaway stack and a real `mediavault worker` (libx265, the house CRF
and preset), then, alternating in one run, times the exact ffmpeg command of the pipeline
(`transcode_args`) against the pipeline itself: presign through the presign function, PUT to
MinIO, and from the PUT's 200 until `media.status = 'ready'` (PostgreSQL polled every 20 ms).
Prints medians, their ratio (goal <= 1.15 for 1080p), encode fps, output/input size, SSIM of the
pipeline's output against the source, and the job's own timing breakdown.
Usage: .venv/bin/python bench/transcode.py [--rounds N] [--preset P]
"""

from __future__ import annotations

import argparse
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
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediavault.config import X265_PRESETS  # noqa: E402
from mediavault.devstack.services import ServiceSpec  # noqa: E402
from mediavault.services import Services  # noqa: E402
from mediavault.users import create_api_token, get_or_create_local_user  # noqa: E402
from processing.confinement import Confinement, probe_confinement  # noqa: E402
from processing.limits import Limits  # noqa: E402
from processing.probe import Probe, probe_file  # noqa: E402
from processing.transcode import TranscodeOptions, transcode_args  # noqa: E402
from tests.harness import (  # noqa: E402
    NsqCollector,
    RunningProcess,
    Stack,
    free_port,
    function_client,
    running_stack,
)

CLIPS = {"720p": "1280x720", "1080p": "1920x1080"}
SECONDS = 10
FRAME_RATE = 30
GOAL_RATIO = 1.15  # for 1080p
POLL_INTERVAL = 0.02
PIPELINE_DEADLINE = 900.0
# Job steps as recorded in processing_jobs.timings; "other" is probe, checks and DB writes.
STEPS = ("download", "images", "transcode", "upload")


@dataclass
class ClipResult:
    """Everything measured for one clip over all rounds."""

    name: str
    source: Path
    probe: Probe
    raw: list[float] = field(default_factory=list)
    sandboxed: list[float] = field(default_factory=list)  # raw, under the job's limits
    raw_cpu: list[float] = field(default_factory=list)
    sandboxed_cpu: list[float] = field(default_factory=list)
    pipeline: list[float] = field(default_factory=list)
    breakdown: dict[str, list[float]] = field(default_factory=dict)
    raw_output_size: int = 0
    playback: Path | None = None

    def add_breakdown(self, parts: dict[str, float]) -> None:
        """Keep one pipeline run's breakdown."""
        for name, seconds in parts.items():
            self.breakdown.setdefault(name, []).append(seconds)


class EventClock(NsqCollector):
    """A reader on its own channel of the uploads topic: when nsqd received each event."""

    def __init__(self, nsqd_tcp_address: str, topic: str) -> None:
        self.received: list[tuple[float, bytes]] = []
        super().__init__(nsqd_tcp_address, topic, "bench-clock")

    def _handle(self, message: Any) -> bool:
        self.received.append((message.timestamp / 1e9, bytes(message.body)))
        return super()._handle(message)

    def published_at(self, media_id: str) -> float:
        """nsqd's receipt time (epoch seconds) of the first event naming this media."""
        needle = media_id.encode()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            for stamp, body in list(self.received):
                if needle in body:
                    return stamp
            time.sleep(POLL_INTERVAL)
        raise SystemExit(f"no NSQ event seen for media {media_id}")


@dataclass
class Pipeline:
    """Uploads through the presign function and watches the media row until it is settled."""

    services: Services
    presign: Any  # the presign function's Flask test client
    headers: dict[str, str]
    worker: RunningProcess
    events: EventClock
    scratch: Path

    def run(self, source: Path) -> tuple[float, dict[str, float], dict[str, Any]]:
        """Seconds from the PUT's 200 to `ready`, the breakdown, and the final media row."""
        media_id, put_wall, put_clock = self._upload(source)
        row = self._wait_settled(media_id)
        seconds = time.perf_counter() - put_clock
        if row["status"] != "ready":
            raise SystemExit(f"media {media_id} {row['status']}: {row['error']}\n"
                             f"{self.worker.log_tail()}")  # fmt: skip
        if row["encoder"] != "libx265":
            raise SystemExit(f"the worker encoded with {row['encoder']}, not libx265")
        timings: dict[str, float] = dict(row["timings"])
        queue = (row["started_at"] - put_wall).total_seconds()
        event = self.events.published_at(media_id) - put_wall.timestamp()
        parts = {"event": event, "consume": queue - event}
        parts.update({step: timings.get(step, 0.0) for step in STEPS})
        parts["other"] = timings["total"] - sum(timings.get(step, 0.0) for step in STEPS)
        parts["finish"] = seconds - queue - timings["total"]
        return seconds, parts, row

    def fetch_playback(self, row: dict[str, Any], target: Path) -> Path:
        """Download the playback file the pipeline stored."""
        storage = self.services.storage
        storage.client.fget_object(storage.bucket, row["playback_key"], str(target))
        return target

    def _upload(self, source: Path) -> tuple[str, datetime, float]:
        """Presign and PUT like a browser; the media id and when the PUT returned."""
        size = source.stat().st_size
        body = {"filename": source.name, "content_type": "video/mp4", "size_bytes": size}
        response = self.presign.post("/api/uploads", json=body, headers=self.headers)
        if response.status_code != 201:
            raise SystemExit(f"presign: {response.status_code} {response.get_data(as_text=True)}")
        started = response.get_json()
        if started.get("method") != "PUT":
            raise SystemExit(f"expected a single presigned PUT, got {started}")
        with source.open("rb") as data:
            put = httpx.put(started["url"], content=data, headers=started["headers"], timeout=120)
        put_clock, put_wall = time.perf_counter(), datetime.now(UTC)
        if put.status_code != 200:
            raise SystemExit(f"PUT: {put.status_code} {put.text}")
        # As a client does: confirm the upload, which enqueues it without waiting for MinIO.
        done = self.presign.post(
            f"/api/uploads/{started['media_id']}/complete", headers=self.headers
        )
        if done.status_code != 200:
            raise SystemExit(f"complete: {done.status_code} {done.get_data(as_text=True)}")
        return str(started["media_id"]), put_wall, put_clock

    def _wait_settled(self, media_id: str) -> dict[str, Any]:
        """Poll PostgreSQL until the media is ready or failed; the row with its job."""
        deadline = time.monotonic() + PIPELINE_DEADLINE
        while True:
            with self.services.pool.connection() as conn:
                row = conn.execute(
                    "SELECT m.status, m.error, m.playback_key, m.playback_size_bytes, j.encoder,"
                    " j.timings, j.started_at, j.finished_at FROM media m"
                    " LEFT JOIN processing_jobs j ON j.media_id = m.id WHERE m.id = %s",
                    (media_id,),
                ).fetchone()
            if row is not None and row["status"] in ("ready", "failed"):
                return dict(row)
            if time.monotonic() > deadline:
                raise SystemExit(f"media {media_id} not settled after {PIPELINE_DEADLINE:g} s")
            if self.worker.process.poll() is not None:
                raise SystemExit(f"the worker exited:\n{self.worker.log_tail()}")
            time.sleep(POLL_INTERVAL)


def make_clip(path: Path, size: str) -> Path:
    """A noisy H.264 + AAC clip from lavfi (noise keeps the encoder honest)."""
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y",
         "-f", "lavfi", "-i", f"testsrc2=size={size}:rate={FRAME_RATE}:duration={SECONDS}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={SECONDS}",
         "-vf", "noise=alls=12:allf=t+u",
         "-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-b:a", "128k", "-shortest", str(path)],
        check=True, timeout=600,
    )  # fmt: skip
    return path


def time_raw(
    args: list[str], cpu: list[float] | None = None, env: dict[str, str] | None = None
) -> float:
    """Seconds of one raw ffmpeg run (its CPU seconds appended to `cpu`: steadier under load)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, check=False, env=env)
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise SystemExit(f"raw ffmpeg failed: {done.stderr.decode(errors='replace')[-2000:]}")
    if cpu is not None:
        cpu.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    return seconds


def ssim(output: Path, source: Path) -> float:
    """SSIM (All) of `output` against `source`, by ffmpeg's ssim filter."""
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-hide_banner", "-i", str(output), "-i", str(source),
         "-lavfi", "ssim", "-f", "null", "-"],
        capture_output=True, check=True, timeout=600,
    )  # fmt: skip
    found = re.findall(r"All:([0-9.]+)", done.stderr.decode(errors="replace"))
    if not found:
        raise SystemExit("no SSIM in ffmpeg's output")
    return float(found[-1])


def start_worker(stack: Stack, preset: str) -> RunningProcess:
    """A real `mediavault worker` encoding with libx265 at `preset`."""
    port = free_port()
    spec = ServiceSpec(
        "worker",
        (str(stack.binaries.python_bin / "mediavault"), "worker"),
        ready_url=f"http://127.0.0.1:{port}/healthz",
        env={
            **stack.layout.worker_env(),
            "WORKER_PORT": str(port),
            "TRANSCODE_ENCODER": "libx265",
            "TRANSCODE_PRESET": preset,
        },
    )
    return stack.processes.start(spec)


def measure_clip(
    clip: ClipResult,
    pipeline: Pipeline,
    options: TranscodeOptions,
    rounds: int,
    confinement: Confinement,
) -> None:
    """Alternate raw and pipeline runs (the order flips every round)."""
    raw_out = pipeline.scratch / f"raw-{clip.name}.mp4"
    args = transcode_args(clip.source, raw_out, clip.probe, options)
    # The same command under the limits and the confinement a job runs it with.
    sandbox = Limits(confinement=confinement).sandbox_for(clip.probe)
    limited = sandbox.command(args, reads=[clip.source], writes=[raw_out.parent])

    def raw() -> None:
        clip.raw.append(time_raw(args, clip.raw_cpu))
        clip.sandboxed.append(time_raw(limited, clip.sandboxed_cpu, sandbox.env))

    def piped() -> None:
        seconds, parts, row = pipeline.run(clip.source)
        clip.pipeline.append(seconds)
        clip.add_breakdown(parts)
        clip.playback = pipeline.fetch_playback(row, pipeline.scratch / f"hevc-{clip.name}.mp4")

    for number in range(rounds):
        order: tuple[Callable[[], None], ...] = (raw, piped) if number % 2 == 0 else (piped, raw)
        for step in order:
            step()
        print(f"  {clip.name} round {number + 1}: raw {clip.raw[-1]:.2f} s, sandboxed "
              f"{clip.sandboxed[-1]:.2f} s, pipeline {clip.pipeline[-1]:.2f} s",
              flush=True)  # fmt: skip
    clip.raw_output_size = raw_out.stat().st_size


def report(clips: list[ClipResult], rounds: int, preset: str, crf: int) -> None:
    """The table per clip and the job's breakdown."""
    print(f"\nlibx265 preset {preset}, CRF {crf}; {SECONDS} s clips at {FRAME_RATE} fps;")
    print(f"medians of {rounds} alternating rounds (raw ffmpeg, then the pipeline, flipped)")
    columns = ("raw s", "pipe s", "ratio", "enc fps", "out/in", "SSIM")
    print(f"{'clip':<7}" + "".join(f"{name:>9}" for name in columns))
    for clip in clips:
        raw, piped = statistics.median(clip.raw), statistics.median(clip.pipeline)
        assert clip.playback is not None
        assert clip.probe.video is not None
        frames = clip.probe.video.frame_count or 0
        out_in = clip.playback.stat().st_size / clip.source.stat().st_size
        cells = (f"{raw:.2f}", f"{piped:.2f}", f"{piped / raw:.3f}x", f"{frames / raw:.1f}",
                 f"{out_in:.3f}", f"{ssim(clip.playback, clip.source):.4f}")  # fmt: skip
        print(f"{clip.name:<7}" + "".join(f"{cell:>9}" for cell in cells))

    names = ("event", "consume", *STEPS, "other", "finish")
    print("\npipeline breakdown, medians in s (event: PUT 200 -> nsqd has MinIO's event;")
    print("consume: -> job claimed; other: probe, checks, DB writes; finish: job done -> `ready`")
    print("seen; overhead: pipe s - raw s)")
    print(f"{'clip':<7}" + "".join(f"{name:>10}" for name in (*names, "overhead")))
    for clip in clips:
        medians = [statistics.median(clip.breakdown[name]) for name in names]
        medians.append(statistics.median(clip.pipeline) - statistics.median(clip.raw))
        print(f"{clip.name:<7}" + "".join(f"{value:>10.3f}" for value in medians))

    print("\nper clip: the job's encode step / raw; median of per-round pipeline/raw pairs;")
    print("overhead outside the encode (pipe s - the job's encode step) / raw s")
    for clip in clips:
        raw = statistics.median(clip.raw)
        inside = statistics.median(clip.breakdown["transcode"]) / raw
        paired = statistics.median(p / r for p, r in zip(clip.pipeline, clip.raw, strict=True))
        outside = [p - t for p, t in zip(clip.pipeline, clip.breakdown["transcode"], strict=True)]
        extra = statistics.median(outside)
        assert clip.playback is not None
        print(f"{clip.name}: encode {inside:.3f}x, paired {paired:.3f}x, outside {extra:.2f} s"
              f" = +{extra / raw:.3f}; output {clip.playback.stat().st_size:,} B"
              f" (raw ffmpeg's {clip.raw_output_size:,} B)")  # fmt: skip
    for clip in clips:
        limited = statistics.median(clip.sandboxed) / statistics.median(clip.raw)
        cpu = statistics.median(clip.sandboxed_cpu) / statistics.median(clip.raw_cpu)
        print(
            f"{clip.name}: raw ffmpeg under the job's limits / without = {limited:.3f}x wall,"
            f" {cpu:.3f}x CPU time"
        )
    final = next(clip for clip in clips if clip.name == "1080p")
    ratio = statistics.median(final.pipeline) / statistics.median(final.raw)
    verdict = "met" if ratio <= GOAL_RATIO else "NOT met"
    print(f"1080p pipeline/raw = {ratio:.3f}x (medians), goal <= {GOAL_RATIO}: {verdict}")


def main() -> None:
    """Generate the clips, start the stack and worker, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--preset", choices=X265_PRESETS, help="x265 preset (default: the house default, medium)"
    )
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="mediavault-bench-transcode-"))
    try:
        load = os.getloadavg()[0]
        print(f"ffmpeg {shutil.which('ffmpeg')}, {os.cpu_count()} CPUs, load average {load:.2f}")
        clips = []
        for name, size in CLIPS.items():
            source = make_clip(scratch / f"source-{name}.mp4", size)
            clips.append(ClipResult(name, source, probe_file(source)))
            print(f"generated {name}: {source.stat().st_size:,} B", flush=True)
        with running_stack("mediavault-bench-transcode-") as stack:
            preset = args.preset or stack.settings.transcode.preset
            options = TranscodeOptions(
                encoder="libx265", crf=stack.settings.transcode.crf, preset=preset
            )
            pipeline = _pipeline(stack, preset, scratch)
            confinement = probe_confinement()  # what the worker's start-up finds here
            try:
                warm_up(pipeline, scratch)
                for clip in clips:
                    measure_clip(clip, pipeline, options, args.rounds, confinement)
            finally:
                pipeline.services.close()
                pipeline.events.close()
            report(clips, args.rounds, preset, options.crf)
        print(f"load average at the end {os.getloadavg()[0]:.2f}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _pipeline(stack: Stack, preset: str, scratch: Path) -> Pipeline:
    """The worker, a user with an API token and the presign client."""
    worker = start_worker(stack, preset)
    services = Services.from_settings(stack.settings)
    services.pool.wait(timeout=30)
    with services.pool.connection() as conn:
        user = get_or_create_local_user(conn, "bench")
        token = create_api_token(conn, user.id, "bench")
    headers = {"Authorization": f"Bearer {token.token}"}
    settings = stack.settings.queue
    events = EventClock(settings.nsqd_tcp_address, settings.topic)
    return Pipeline(
        services,
        function_client(stack, "presign", LOG_LEVEL="WARNING"),
        headers,
        worker,
        events,
        scratch,
    )


def warm_up(pipeline: Pipeline, scratch: Path) -> None:
    """One small untimed job, so that the worker's first-job costs are not measured."""
    small = scratch / "warm-up.mp4"
    subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y",
         "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=1",
         "-f", "lavfi", "-i", "sine=duration=1", "-c:v", "libx264", "-c:a", "aac", str(small)],
        check=True, timeout=120,
    )  # fmt: skip
    pipeline.run(small)


if __name__ == "__main__":
    main()
