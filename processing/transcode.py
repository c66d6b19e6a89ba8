"""HEVC MP4 transcodes: the policy that decides, the exact ffmpeg arguments, and the run."""

from __future__ import annotations

import enum
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from processing.inputs import MediaInput, as_input
from processing.limits import Sandbox
from processing.probe import Probe, VideoStream
from processing.runner import HeartbeatCallback, ProgressCallback, RunStats, atomic_output
from processing.video import (
    HevcOutput,
    VideoPlan,
    WebOutput,
    default_names,
    hevc_size,
    run_video,
    video_args,
)

log = logging.getLogger(__name__)

Policy = Literal["required", "all", "disabled"]
Encoder = Literal["libx265", "hevc_nvenc"]
ENCODERS: tuple[Encoder, ...] = ("libx265", "hevc_nvenc")
POLICIES: tuple[Policy, ...] = ("required", "all", "disabled")
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
    return hevc_size(video, max_height)


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
    plan = plan_for(opts, thumbnail=False)
    return video_args(as_input(src), probe, plan, dst.parent, ffmpeg_bin=ffmpeg_bin,
                      names={**default_names(dst.parent), "hevc": dst})  # fmt: skip


def plan_for(
    opts: TranscodeOptions,
    *,
    web: WebOutput | None = None,
    thumbnail: bool = True,
    master_display: str | None = None,
    max_cll: str | None = None,
) -> VideoPlan:
    """The video run that makes this HEVC file (and, when given, the web rendition)."""
    hevc = HevcOutput(
        encoder=opts.encoder, crf=opts.crf, preset=opts.preset, nvenc_preset=opts.nvenc_preset,
        max_height=opts.max_height, copy=opts.copy_video, master_display=master_display,
        max_cll=max_cll,
    )  # fmt: skip
    return VideoPlan(hevc=hevc, web=web, thumbnail=thumbnail, audio_bitrate=opts.audio_bitrate,
                     max_frames=opts.max_frames)  # fmt: skip


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
    if opts.copy_video and probe.video.codec != "hevc":
        raise ValueError(f"only HEVC can be copied into the playback file, not {probe.video.codec}")
    log.info("transcoding with %s", "copy" if opts.copy_video else opts.encoder)
    with atomic_output(dst) as part:
        run = run_video(
            as_input(src), probe, plan_for(opts, thumbnail=False), part.parent,
            ffmpeg_bin=ffmpeg_bin, timeout=timeout, on_progress=on_progress,
            on_heartbeat=on_heartbeat, heartbeat_interval=heartbeat_interval, sandbox=sandbox,
        )  # fmt: skip
        assert run.hevc is not None
        assert run.stats is not None
        run.hevc.replace(part)
    return result_of(dst, probe, opts, run.stats)


def result_of(dst: Path, probe: Probe, opts: TranscodeOptions, stats: RunStats) -> TranscodeResult:
    """What a finished HEVC output is."""
    assert probe.video is not None
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
        args=(),
    )
