"""HEVC MP4 transcodes: the policy that decides, the exact ffmpeg arguments, and the run."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import ffmpeg

from processing.errors import PermanentProcessingError
from processing.inputs import MediaInput, as_input
from processing.limits import Sandbox
from processing.probe import Probe, VideoStream
from processing.runner import HeartbeatCallback, ProgressCallback, atomic_output, run_ffmpeg

log = logging.getLogger(__name__)

Policy = Literal["required", "all", "disabled"]
Encoder = Literal["libx265", "hevc_nvenc"]
ENCODERS: tuple[Encoder, ...] = ("libx265", "hevc_nvenc")
POLICIES: tuple[Policy, ...] = ("required", "all", "disabled")
# A damaged source decodes "successfully" but short: more missing than this is a failure.
_MAX_SHORTFALL_MS = 500
_MAX_SHORTFALL_RATIO = 0.05
# Audio that every browser plays from MP4 as it is.
_PLAYABLE_AUDIO = frozenset({"aac"})


class TranscodeAction(enum.StrEnum):
    """What a video needs to become the playback file."""

    SKIP = "skip"  # the original plays as it is (or the policy says leave it)
    REMUX = "remux"  # HEVC already: copy the video into MP4 with hvc1 and faststart
    ENCODE = "encode"  # re-encode the video to HEVC


@dataclass(frozen=True)
class TranscodeOptions:
    """How to encode; the defaults are the house settings."""

    encoder: Encoder = "libx265"
    crf: int = 28
    preset: str = "medium"
    nvenc_preset: str = "p5"
    max_height: int | None = None
    audio_bitrate: str = "160k"
    copy_video: bool = False
    max_frames: int | None = None  # stop there, whatever the container claims

    def __post_init__(self) -> None:
        if self.encoder not in ENCODERS:
            raise ValueError(f"encoder must be one of {', '.join(ENCODERS)}, not {self.encoder!r}")
        if not 0 <= self.crf <= 51:
            raise ValueError(f"crf must be within 0..51, not {self.crf}")
        if self.max_height is not None and self.max_height < 2:
            raise ValueError(f"max_height must be at least 2, not {self.max_height}")


@dataclass(frozen=True)
class TranscodeResult:
    """One finished transcode."""

    path: Path
    encoder: str  # libx265 | hevc_nvenc | copy
    output_size: int
    width: int
    height: int
    wall_seconds: float
    frames: int | None
    encode_fps: float | None
    video_copied: bool
    audio_copied: bool
    args: tuple[str, ...]


def transcode_action(
    probe: Probe, policy: Policy, *, max_height: int | None = None
) -> TranscodeAction:
    """Decide, like Immich's transcode policy, what a file needs."""
    if policy not in POLICIES:
        raise ValueError(f"policy must be one of {', '.join(POLICIES)}, not {policy!r}")
    video = probe.video
    if video is None or probe.is_image or policy == "disabled":
        return TranscodeAction.SKIP
    too_tall = max_height is not None and video.height > max_height
    if policy == "all" or video.codec != "hevc" or too_tall:
        return TranscodeAction.ENCODE
    # Apple players refuse HEVC tagged hev1 and browsers want MP4: both only need a remux.
    audio_ok = probe.audio is None or probe.audio.codec in _PLAYABLE_AUDIO
    if probe.is_mp4 and video.codec_tag == "hvc1" and audio_ok:
        return TranscodeAction.SKIP
    return TranscodeAction.REMUX


def needs_transcode(probe: Probe, policy: Policy, *, max_height: int | None = None) -> bool:
    """True when the video must be re-encoded to HEVC."""
    return transcode_action(probe, policy, max_height=max_height) is TranscodeAction.ENCODE


def output_size_for(video: VideoStream, max_height: int | None) -> tuple[int, int]:
    """Display size of the output: scaled down to max_height keeping aspect, both even."""
    width, height = video.width, video.height
    if max_height is not None and height > max_height:
        width, height = round(width * max_height / height), max_height
    # 4:2:0 chroma needs even dimensions.
    return max(2, width - width % 2), max(2, height - height % 2)


def transcode_args(
    src: MediaInput | Path,
    dst: Path,
    probe: Probe,
    options: TranscodeOptions | None = None,
    *,
    ffmpeg_bin: str = "ffmpeg",
) -> list[str]:
    """The exact ffmpeg argument list (binary first) of a transcode, for runs and benchmarks."""
    opts = options or TranscodeOptions()
    video = probe.video
    if video is None:
        raise ValueError("transcode needs a video stream")
    if opts.copy_video and video.codec != "hevc":
        raise ValueError(f"only HEVC can be copied into the playback file, not {video.codec}")
    media = as_input(src)
    source = ffmpeg.input(media.url, **media.options())
    streams = [_video_stream(source, video, opts)]
    out: dict[str, str | int] = {"tag:v": "hvc1", "movflags": "+faststart", "f": "mp4"}
    if opts.max_frames is not None:
        out["frames:v"] = opts.max_frames
    if probe.duration_ms:
        # A container may hold far more than its header declares: decode no further than that.
        out["t"] = f"{probe.duration_ms / 1000 * 1.05 + 2:.3f}"
    if opts.copy_video:
        out["c:v"] = "copy"
    else:
        out.update(_encoder_args(opts))
        out["pix_fmt"] = "yuv420p"
        out["fps_mode"] = "vfr"  # keep the source's timestamps, hence its frame rate
    if probe.audio is not None:
        streams.append(source[str(probe.audio.index)])
        if probe.audio.codec in _PLAYABLE_AUDIO:
            out["c:a"] = "copy"
        else:
            out.update({"c:a": "aac", "b:a": opts.audio_bitrate})
    graph = ffmpeg.output(*streams, f"file:{dst}", **out).global_args("-v", "error")
    args: list[str] = graph.overwrite_output().compile(cmd=ffmpeg_bin)
    return args


def transcode(
    src: MediaInput | Path,
    dst: Path,
    probe: Probe,
    options: TranscodeOptions | None = None,
    *,
    ffmpeg_bin: str = "ffmpeg",
    timeout: float = 3600.0,
    on_progress: ProgressCallback | None = None,
    on_heartbeat: HeartbeatCallback | None = None,
    heartbeat_interval: float = 5.0,
    sandbox: Sandbox | None = None,
) -> TranscodeResult:
    """Write `dst` (MP4, HEVC, hvc1, faststart); `dst` appears only when complete."""
    opts = options or TranscodeOptions()
    if probe.video is None:
        raise ValueError("transcode needs a video stream")
    with atomic_output(dst) as part:
        args = transcode_args(src, part, probe, opts, ffmpeg_bin=ffmpeg_bin)
        log.info("transcoding with %s", "copy" if opts.copy_video else opts.encoder)
        stats = run_ffmpeg(
            args,
            timeout=timeout,
            duration_ms=probe.duration_ms,
            on_progress=on_progress,
            on_heartbeat=on_heartbeat,
            heartbeat_interval=heartbeat_interval,
            what="the HEVC transcode",
            sandbox=sandbox,
        )
        _check_complete(probe, stats.out_time_ms)
    width, height = (
        (probe.video.width, probe.video.height)
        if opts.copy_video
        else output_size_for(probe.video, opts.max_height)
    )
    fps = stats.frames / stats.wall_seconds if stats.frames and stats.wall_seconds > 0 else None
    return TranscodeResult(
        path=dst,
        encoder="copy" if opts.copy_video else opts.encoder,
        output_size=dst.stat().st_size,
        width=width,
        height=height,
        wall_seconds=stats.wall_seconds,
        frames=stats.frames,
        encode_fps=fps,
        video_copied=opts.copy_video,
        audio_copied=probe.audio is not None and probe.audio.codec in _PLAYABLE_AUDIO,
        args=tuple(args),
    )


def _check_complete(probe: Probe, out_time_ms: int | None) -> None:
    """Refuse an output that covers clearly less than the source (a truncated upload)."""
    expected = probe.duration_ms
    if not expected or out_time_ms is None:
        return
    if expected - out_time_ms > max(_MAX_SHORTFALL_MS, expected * _MAX_SHORTFALL_RATIO):
        raise PermanentProcessingError(
            f"the video is damaged or truncated: only {out_time_ms / 1000:.1f} s "
            f"of {expected / 1000:.1f} s could be decoded"
        )


def _video_stream(source: Any, video: VideoStream, opts: TranscodeOptions) -> Any:
    """The source's video stream, scaled when the size must change."""
    stream = source[str(video.index)]
    if opts.copy_video:
        return stream
    width, height = output_size_for(video, opts.max_height)
    if (width, height) == (video.width, video.height):
        return stream
    # ffmpeg rotates before filters, so these are display dimensions like the probe's.
    return stream.filter("scale", width, height)


def _encoder_args(opts: TranscodeOptions) -> dict[str, str | int]:
    if opts.encoder == "hevc_nvenc":
        # NVENC has its own rate control: constant quality in VBR mode with no bitrate cap.
        return {
            "c:v": "hevc_nvenc",
            "rc": "vbr",
            "cq": opts.crf,
            "b:v": 0,
            "preset": opts.nvenc_preset,
        }
    return {
        "c:v": "libx265",
        "crf": opts.crf,
        "preset": opts.preset,
        "x265-params": "log-level=error",
    }
