"""Helpers for the processing tests: small media made with lavfi, and ways to look inside it."""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path
from typing import Any


def ffmpeg(*args: str) -> None:
    """Run ffmpeg quietly; fail the test with its stderr when it fails."""
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-y", *args], capture_output=True, check=False
    )
    assert done.returncode == 0, done.stderr.decode()


def make_video(
    path: Path,
    *,
    size: str = "320x240",
    seconds: float = 1.0,
    vcodec: str = "libx264",
    acodec: str | None = "aac",
    black_first: float = 0.0,
) -> Path:
    """An H.264 (or other) clip from testsrc2 with a sine tone, optionally black at first."""
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate=25:duration={seconds}"]
    vmap = "0:v"
    if black_first:
        inputs = [
            "-f", "lavfi", "-i", f"color=black:size={size}:rate=25:duration={black_first}",
            *inputs,
        ]  # fmt: skip
        vmap = "[v]"
    if acodec is not None:
        total = seconds + black_first
        inputs += ["-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={total}"]
    args = [*inputs]
    if black_first:
        args += ["-filter_complex", "[0:v][1:v]concat=n=2:v=1:a=0[v]"]
    args += ["-map", vmap, "-c:v", vcodec, "-preset", "ultrafast", "-pix_fmt", "yuv420p"]
    if acodec is not None:
        args += ["-map", f"{2 if black_first else 1}:a", "-c:a", acodec]
    ffmpeg(*args, str(path))
    return path


def make_image(path: Path, size: str, *, pix_fmt: str = "rgb24") -> Path:
    """A single testsrc2 picture in the format the extension says."""
    ffmpeg("-f", "lavfi", "-i", f"testsrc2=size={size}", "-frames:v", "1", "-pix_fmt", pix_fmt,
           "-update", "1", str(path))  # fmt: skip
    return path


def ffprobe(path: Path) -> dict[str, Any]:
    """ffprobe's JSON report on a file."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
         str(path)],
        capture_output=True, check=True,
    )  # fmt: skip
    report: dict[str, Any] = json.loads(done.stdout)
    return report


def stream_hash(path: Path, selector: str) -> str:
    """MD5 of a stream's packets: equal for two files only when the stream was copied."""
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-map", f"0:{selector}",
         "-c", "copy", "-f", "hash", "-hash", "md5", "-"],
        capture_output=True, check=True,
    )  # fmt: skip
    return done.stdout.decode().strip()


def mean_luma(path: Path) -> float:
    """Mean 8-bit luma of the first picture of a file, from an 8x8 grey decode."""
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-frames:v", "1",
         "-vf", "scale=8:8,format=gray", "-f", "rawvideo", "-"],
        capture_output=True, check=True,
    )  # fmt: skip
    assert len(done.stdout) == 64
    return sum(done.stdout) / 64


def top_level_boxes(path: Path) -> list[str]:
    """The types of an MP4's top-level boxes, in file order."""
    kinds: list[str] = []
    data = path.read_bytes()
    offset = 0
    while offset + 8 <= len(data):
        size, kind = struct.unpack(">I4s", data[offset : offset + 8])
        if size == 1:
            (size,) = struct.unpack(">Q", data[offset + 8 : offset + 16])
        elif size == 0:
            size = len(data) - offset
        kinds.append(kind.decode("latin-1"))
        assert size >= 8, f"corrupt box at {offset}"
        offset += size
    return kinds
