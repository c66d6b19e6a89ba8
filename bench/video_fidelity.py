"""Video outputs: HEVC size and SSIM vs the source, and the one-run job vs bare ffmpeg.

Makes two 1080p clips (lavfi testsrc2 with temporal noise and a sine), both at a camera's
bitrate (16 Mbit/s, as phones record 1080p30): an H.264 one and a 10-bit HDR10 HEVC one (PQ,
BT.2020). For each, under the job's limits and with the house settings (libx265 CRF 28, preset
medium unless --preset), alternating in one run:
  - bare: ffmpeg's HEVC encode alone (the exact `transcode_args` of the job);
  - ours: the job's single run, HEVC plus the thumbnail from the same decode (and, for the
    10-bit clip, once more with the H.264 web rendition as well);
  - before: the bare encode plus a separate thumbnail run, as jobs did before issue 14.
Prints medians, ratios, the HEVC output's size against the source's, and its SSIM against the
source. Goals (issue 14): HEVC <= 0.6x the H.264 source's size at SSIM >= 0.95; ours <= 1.05x
bare.
Usage: .venv/bin/python bench/video_fidelity.py [--rounds N] [--seconds S] [--preset P]
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from processing.inputs import MediaInput  # noqa: E402
from processing.limits import Limits  # noqa: E402
from processing.probe import Probe, probe_file  # noqa: E402
from processing.runner import run_ffmpeg  # noqa: E402
from processing.transcode import TranscodeOptions, plan_for, transcode_args  # noqa: E402
from processing.video import VideoPlan, WebOutput, run_video  # noqa: E402

SIZE_GOAL, SSIM_GOAL, TIME_GOAL = 0.6, 0.95, 1.05
NOISE = "testsrc2=size=1920x1080:rate=30:duration={s},noise=alls=3:allf=t"
# What a phone records at 1080p30: about 16 Mbit/s.
CAMERA_RATE = ["-b:v", "16M", "-maxrate", "20M", "-bufsize", "32M"]


def _ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-y", *args], check=True)


def make_clips(work: Path, seconds: int) -> dict[str, Path]:
    """The H.264 source and the 10-bit HDR10 source."""
    h264, pq = work / "h264.mp4", work / "pq10.mp4"
    audio = ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}"]
    _ffmpeg("-f", "lavfi", "-i", NOISE.format(s=seconds), *audio, "-c:v", "libx264", *CAMERA_RATE,
            "-preset", "veryfast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(h264))  # fmt: skip
    _ffmpeg("-f", "lavfi", "-i", NOISE.format(s=seconds), *audio, "-vf", "format=yuv420p10le",
            "-c:v", "libx265", *CAMERA_RATE, "-preset", "veryfast", "-tag:v", "hvc1",
            "-x265-params", "log-level=error:colorprim=bt2020:transfer=smpte2084:"
            "colormatrix=bt2020nc:hdr10=1:max-cll=1000,400",
            "-color_primaries", "bt2020", "-color_trc", "smpte2084", "-colorspace", "bt2020nc",
            "-c:a", "aac", str(pq))  # fmt: skip
    return {"H.264 1080p": h264, "HEVC 10-bit HDR10 1080p": pq}


def ssim(source: Path, output: Path, ten_bit: bool) -> float:
    """SSIM (All) of the output against the source, frame by frame."""
    fmt = "yuv420p10le" if ten_bit else "yuv420p"
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "info", "-i", str(output), "-i", str(source), "-lavfi",
         f"[0:v]format={fmt}[a];[1:v]format={fmt}[b];[a][b]ssim", "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = re.search(r"All:([0-9.]+)", done.stderr)
    return float(found.group(1)) if found else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--preset", default="medium")
    args = parser.parse_args()
    options = TranscodeOptions(preset=args.preset)
    limits = Limits()
    with tempfile.TemporaryDirectory(prefix="mediavault-bench-video-") as temp:
        work = Path(temp)
        for label, source in make_clips(work, args.seconds).items():
            media = MediaInput.open(source)
            probe: Probe = probe_file(media)
            assert probe.video is not None
            sandbox = limits.sandbox_for(probe)
            ten_bit = probe.video.bit_depth > 8
            runs: dict[str, list[float]] = {"bare": [], "ours": [], "before": []}
            if ten_bit:
                runs["ours + web"] = []
            for index in range(args.rounds):
                out = work / f"{source.stem}-{index}"
                out.mkdir()
                bare = run_ffmpeg(transcode_args(media, out / "bare.mp4", probe, options),
                                  timeout=7200, sandbox=sandbox)  # fmt: skip
                runs["bare"].append(bare.wall_seconds)
                thumb = run_video(media, probe, VideoPlan(), out / "thumb", sandbox=sandbox)
                assert thumb.stats is not None
                runs["before"].append(bare.wall_seconds + thumb.stats.wall_seconds)
                ours = run_video(media, probe, plan_for(options), out / "ours", sandbox=sandbox)
                assert ours.stats is not None
                runs["ours"].append(ours.stats.wall_seconds)
                if ten_bit:
                    plan = plan_for(options, web=WebOutput())
                    both = run_video(media, probe, plan, out / "web", sandbox=sandbox)
                    assert both.stats is not None
                    runs["ours + web"].append(both.stats.wall_seconds)
            hevc = work / f"{source.stem}-0" / "ours" / "hevc.mp4"
            size_ratio = hevc.stat().st_size / source.stat().st_size
            score = ssim(source, hevc, ten_bit)
            base = statistics.median(runs["bare"])
            megabytes = source.stat().st_size / 1e6
            settings = f"libx265 CRF {options.crf} {options.preset}"
            print(f"\n{label}, {args.seconds} s ({megabytes:.1f} MB), {settings}, "
                  f"median of {args.rounds}")  # fmt: skip
            for name, seconds in runs.items():
                median = statistics.median(seconds)
                print(f"  {name:11} {median:7.2f} s  {median / base:5.2f}x bare")
            out_probe = probe_file(hevc).video
            assert out_probe is not None
            print(f"  HEVC output: {hevc.stat().st_size / 1e6:.2f} MB = {size_ratio:.2f}x the "
                  f"source, SSIM {score:.4f}, {out_probe.profile}, {out_probe.pix_fmt}, "
                  f"{out_probe.color_transfer or 'sdr'}")  # fmt: skip
            ratio = statistics.median(runs["ours"]) / base
            print(f"  one run with thumbnail vs bare: {ratio:.3f}x (goal <= {TIME_GOAL}x)")
            if not ten_bit:
                met = size_ratio <= SIZE_GOAL and score >= SSIM_GOAL
                print(
                    f"  size <= {SIZE_GOAL}x at SSIM >= {SSIM_GOAL}: {'met' if met else 'NOT met'}"
                )


if __name__ == "__main__":
    main()
