"""JPEG thumbnails (video and images) and previews (images), never upscaled."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ffmpeg

from processing.errors import PermanentProcessingError
from processing.inputs import MediaInput, as_input
from processing.limits import Sandbox
from processing.probe import Probe, VideoStream
from processing.runner import HeartbeatCallback, atomic_output, run_ffmpeg

log = logging.getLogger(__name__)

THUMBNAIL_LONG_EDGE = 320
PREVIEW_LONG_EDGE = 1440
# Below this mean luma (8-bit, black is 16) a frame is a fade or a black leader.
_DARK_LUMA = 30
# Clips shorter than this are searched from the start; longer ones from 10 % in.
_SEEK_AFTER_MS = 5000
# The candidate window is decoded at full size: it is most of a thumbnail's cost (a 1080p clip
# took 2.2 s for 8 s, against a 15 s encode). 3 s still reaches past a black intro of 2 s.
_SEARCH_WINDOW_S = 3.0
_MAX_CANDIDATES = 90
_ALPHA_PREFIXES = ("yuva", "rgba", "bgra", "argb", "abgr", "ya", "gbrap", "pal8")


@dataclass(frozen=True)
class ImageResult:
    """A written JPEG."""

    path: Path
    width: int
    height: int
    size: int


def fit_long_edge(width: int, height: int, long_edge: int) -> tuple[int, int]:
    """Scale so the longer side is at most `long_edge`, keeping aspect; never upscale."""
    longest = max(width, height)
    if longest <= long_edge:
        return width, height
    scale = long_edge / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def thumbnail(
    src: MediaInput | Path,
    dst: Path,
    probe: Probe,
    *,
    long_edge: int = THUMBNAIL_LONG_EDGE,
    ffmpeg_bin: str = "ffmpeg",
    timeout: float = 120.0,
    on_heartbeat: HeartbeatCallback | None = None,
    sandbox: Sandbox | None = None,
) -> ImageResult:
    """A JPEG of a representative frame (video) or of the picture (image)."""
    video = _picture(probe)
    source = as_input(src)
    if probe.is_image:
        return _write_jpeg(
            source,
            dst,
            probe,
            long_edge=long_edge,
            ffmpeg_bin=ffmpeg_bin,
            timeout=timeout,
            on_heartbeat=on_heartbeat,
            sandbox=sandbox,
        )
    size = fit_long_edge(video.width, video.height, long_edge)
    for skip_dark in (True, False):
        # A fully dark clip has no bright frame: then take the most typical dark one.
        with atomic_output(dst) as part:
            args = _video_thumbnail_args(
                source, part, probe, video=video, size=size, ffmpeg_bin=ffmpeg_bin,
                skip_dark=skip_dark,
            )  # fmt: skip
            run_ffmpeg(args, timeout=timeout, on_heartbeat=on_heartbeat, what="the thumbnail",
                       sandbox=sandbox)  # fmt: skip
            written = part.stat().st_size if part.exists() else 0
        if written:
            return ImageResult(dst, size[0], size[1], written)
    raise PermanentProcessingError("no video frame could be decoded for a thumbnail")


def preview(
    src: MediaInput | Path,
    dst: Path,
    probe: Probe,
    *,
    long_edge: int = PREVIEW_LONG_EDGE,
    ffmpeg_bin: str = "ffmpeg",
    timeout: float = 120.0,
    on_heartbeat: HeartbeatCallback | None = None,
    sandbox: Sandbox | None = None,
) -> ImageResult:
    """A JPEG of an image for viewing in the browser, long edge at most `long_edge`."""
    if not probe.is_image:
        raise ValueError("previews are for images")
    return _write_jpeg(
        as_input(src),
        dst,
        probe,
        long_edge=long_edge,
        ffmpeg_bin=ffmpeg_bin,
        timeout=timeout,
        on_heartbeat=on_heartbeat,
        sandbox=sandbox,
    )


def _picture(probe: Probe) -> VideoStream:
    if probe.video is None:
        raise PermanentProcessingError("the file has no picture to make a thumbnail from")
    return probe.video


def _write_jpeg(
    src: MediaInput,
    dst: Path,
    probe: Probe,
    *,
    long_edge: int,
    ffmpeg_bin: str,
    timeout: float,
    on_heartbeat: HeartbeatCallback | None,
    sandbox: Sandbox | None,
) -> ImageResult:
    video = _picture(probe)
    width, height = fit_long_edge(video.width, video.height, long_edge)
    stream = ffmpeg.input(src.url, **src.options())[str(video.index)].filter("scale", width, height)
    if video.pix_fmt is not None and video.pix_fmt.startswith(_ALPHA_PREFIXES):
        # JPEG has no alpha: lay transparent pictures on white rather than on garbage colour.
        backdrop = ffmpeg.input(f"color=c=white:s={width}x{height}", f="lavfi")
        stream = ffmpeg.overlay(backdrop, stream.filter("setsar", 1), shortest=1)
    with atomic_output(dst) as part:
        args = _jpeg_output(stream, part).compile(cmd=ffmpeg_bin)
        run_ffmpeg(args, timeout=timeout, on_heartbeat=on_heartbeat, what="the image conversion",
                   sandbox=sandbox)  # fmt: skip
        if not part.exists() or part.stat().st_size == 0:
            raise PermanentProcessingError("the image could not be decoded")
        size = part.stat().st_size
    return ImageResult(dst, width, height, size)


def _video_thumbnail_args(
    src: MediaInput,
    dst: Path,
    probe: Probe,
    *,
    video: VideoStream,
    size: tuple[int, int],
    ffmpeg_bin: str,
    skip_dark: bool,
) -> list[str]:
    duration_ms = probe.duration_ms or 0
    seek = duration_ms / 10_000 if duration_ms >= _SEEK_AFTER_MS else 0.0
    fps = video.fps or 25.0
    candidates = max(1, min(_MAX_CANDIDATES, round(fps * _SEARCH_WINDOW_S)))
    source = ffmpeg.input(src.url, **src.options(), ss=f"{seek:.3f}", t=_SEARCH_WINDOW_S)
    # Scale first: every later filter then works on thumbnail-sized frames.
    stream = source[str(video.index)].filter("scale", size[0], size[1]).filter("format", "yuv420p")
    if skip_dark:
        stream = stream.filter("signalstats").filter(
            "metadata", mode="select", key="lavfi.signalstats.YAVG", value=_DARK_LUMA,
            function="greater",
        )  # fmt: skip
    stream = stream.filter("thumbnail", n=candidates)
    args: list[str] = _jpeg_output(stream, dst).compile(cmd=ffmpeg_bin)
    return args


def _jpeg_output(stream: Any, dst: Path) -> Any:
    return (
        stream.output(
            f"file:{dst}",
            **{"frames:v": 1, "c:v": "mjpeg", "q:v": 3, "pix_fmt": "yuvj420p", "f": "image2"},
            update=1,
        )
        .global_args("-v", "error")
        .overwrite_output()
    )
