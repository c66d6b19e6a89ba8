"""One ffmpeg run per video: the HEVC file, the H.264 web rendition and the thumbnail together.

The source is decoded once and split: the HEVC encode keeps the source's bit depth (Main 10 for
10-bit sources) and colour description (HDR included), the web rendition is 8-bit SDR H.264 at
720p at most, and the thumbnail candidates are taken from the same frames at 320 px, tone-mapped
when the source is HDR. Frames are not rotated (`-noautorotate`): the outputs keep the source's
display matrix, so they show upright exactly as the original does, and only the thumbnail is
turned. Outputs carry no container metadata (no place, no device) beyond what playback needs.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Literal

from processing.errors import PermanentProcessingError
from processing.hdr import to_sdr
from processing.inputs import MediaInput
from processing.limits import Sandbox
from processing.probe import Probe, VideoStream
from processing.runner import (
    HeartbeatCallback,
    ProgressCallback,
    RunStats,
    atomic_output,
    run_ffmpeg,
)

log = logging.getLogger(__name__)

WebRendition = Literal["auto", "always", "never"]
WEB_RENDITIONS: tuple[WebRendition, ...] = ("auto", "always", "never")
THUMBNAIL_LONG_EDGE = 320
# Below this mean luma (8-bit, black is 16) a frame is a fade or a black leader.
_DARK_LUMA = 30
# Clips shorter than this are searched from the start; longer ones from 10 % in.
_SEEK_AFTER_MS = 5000
_SEARCH_WINDOW_S = 3.0
_MAX_CANDIDATES = 90
_PLAYABLE_AUDIO = frozenset({"aac"})
# What every common browser (Chrome, Firefox, Safari, without hardware HEVC) plays from MP4.
_WEB_PROFILES = frozenset({"Baseline", "Constrained Baseline", "Main", "High"})
_WEB_PIX_FMTS = frozenset({"yuv420p", "yuvj420p"})
_WEB_AUDIO = frozenset({"aac", "mp3"})
_TRANSPOSE = {90: "transpose=cclock", 180: "hflip,vflip", 270: "transpose=clock"}


@dataclass(frozen=True)
class HevcOutput:
    """The HEVC file: encoded with these settings, or the source's HEVC copied (`copy`)."""

    encoder: Literal["libx265", "hevc_nvenc"] = "libx265"
    crf: int = 28
    preset: str = "medium"
    nvenc_preset: str = "p5"
    max_height: int | None = None
    copy: bool = False
    master_display: str | None = None  # x265's master-display, for PQ sources
    max_cll: str | None = None


@dataclass(frozen=True)
class WebOutput:
    """The H.264 web rendition, for browsers without HEVC: encoded, or the original's copied."""

    max_short_edge: int = 720
    crf: int = 23
    preset: str = "veryfast"
    copy: bool = False  # the original's streams as they are, without its container's tags


@dataclass(frozen=True)
class VideoPlan:
    """What one run writes into its directory: hevc.mp4, web.mp4, thumbnail candidates."""

    hevc: HevcOutput | None = None
    web: WebOutput | None = None
    thumbnail: bool = True
    audio_bitrate: str = "160k"
    web_audio_bitrate: str = "128k"
    max_frames: int | None = None

    @property
    def decodes(self) -> bool:
        """The run decodes every frame (an encode needs them; the thumbnail then rides along)."""
        return (self.web is not None and not self.web.copy) or (
            self.hevc is not None and not self.hevc.copy
        )

    @property
    def copies(self) -> bool:
        """The run copies a stream into an output (nothing decoded for it)."""
        return (self.web is not None and self.web.copy) or (
            self.hevc is not None and self.hevc.copy
        )


@dataclass(frozen=True)
class VideoRun:
    """What a run wrote."""

    hevc: Path | None
    web: Path | None
    thumbnail: Path | None  # PNG, display orientation
    stats: RunStats | None


def plays_everywhere(probe: Probe, served_type: str) -> bool:
    """The original plays in Chrome, Firefox and Safari as it is (H.264 8-bit 4:2:0 in MP4)."""
    video, audio = probe.video, probe.audio
    if video is None or not probe.is_mp4 or served_type.partition(";")[0] != "video/mp4":
        return False
    if video.codec != "h264" or video.profile not in _WEB_PROFILES:
        return False
    if video.pix_fmt not in _WEB_PIX_FMTS:
        return False
    return audio is None or audio.codec in _WEB_AUDIO


def names_a_place(probe: Probe) -> bool:
    """The container's tags say where it was recorded (phones write an ISO 6709 location)."""
    return any("location" in key.lower() for key in probe.tags)


def web_output(setting: WebRendition, probe: Probe, served_type: str) -> WebOutput | None:
    """TRANSCODE_WEB_RENDITION for this video: the web rendition to make, if any.

    auto makes one for every video: share links without downloads never play the original, and
    browsers without HEVC need a file they play. An original that plays everywhere has its
    streams copied (nothing encoded, its place and other tags left out); any other is encoded.
    always encodes one, never makes none.
    """
    if setting not in WEB_RENDITIONS:
        raise ValueError(f"web rendition must be one of {', '.join(WEB_RENDITIONS)}")
    if probe.video is None or probe.is_image or setting == "never":
        return None
    return WebOutput(copy=setting == "auto" and plays_everywhere(probe, served_type))


def hevc_size(video: VideoStream, max_height: int | None) -> tuple[int, int]:
    """Display size of the HEVC output: scaled down to max_height keeping aspect, both even."""
    width, height = video.width, video.height
    if max_height is not None and height > max_height:
        width, height = round(width * max_height / height), max_height
    return max(2, width - width % 2), max(2, height - height % 2)


def web_size(video: VideoStream, max_short_edge: int) -> tuple[int, int]:
    """Display size of the web rendition: short edge at most `max_short_edge`, both even."""
    width, height = video.width, video.height
    short = min(width, height)
    if short > max_short_edge:
        width, height = (
            round(width * max_short_edge / short),
            round(height * max_short_edge / short),
        )
    return max(2, width - width % 2), max(2, height - height % 2)


def thumbnail_size(video: VideoStream, long_edge: int = THUMBNAIL_LONG_EDGE) -> tuple[int, int]:
    """Display size of the thumbnail: long edge at most `long_edge`, never upscaled."""
    longest = max(video.width, video.height)
    if longest <= long_edge:
        return video.width, video.height
    scale = long_edge / longest
    return max(1, round(video.width * scale)), max(1, round(video.height * scale))


def _coded(video: VideoStream, size: tuple[int, int]) -> tuple[int, int]:
    """A display size as the stored frames have it (swapped for 90/270 degree rotation)."""
    return (size[1], size[0]) if video.rotation in (90, 270) else size


def video_args(
    media: MediaInput,
    probe: Probe,
    plan: VideoPlan,
    out_dir: Path,
    *,
    ffmpeg_bin: str = "ffmpeg",
    names: dict[str, Path] | None = None,
) -> list[str]:
    """The exact ffmpeg argument list (binary first) of a run; outputs named by `names`."""
    video = probe.video
    if video is None:
        raise ValueError("a video run needs a video stream")
    paths = names or default_names(out_dir)
    thumb_only = not plan.decodes and not plan.copies
    args = [ffmpeg_bin, "-v", "error", "-y", "-noautorotate"]
    if thumb_only:
        seek = (
            (probe.duration_ms or 0) / 10_000 if (probe.duration_ms or 0) >= _SEEK_AFTER_MS else 0
        )
        args += ["-ss", f"{seek:.3f}", "-t", f"{_SEARCH_WINDOW_S:g}"]
    args += media.argv()
    graph: list[str] = []
    chains: dict[str, str] = {}  # branch -> its filters (empty: frames as decoded)
    if plan.hevc is not None and not plan.hevc.copy:
        chains["hevc"] = _hevc_filters(video, plan.hevc)
    if plan.web is not None and not plan.web.copy:
        chains["web"] = _web_filters(video, plan.web)
    thumb = plan.thumbnail and (plan.decodes or thumb_only)
    sources = {name: f"[{name}]" for name in chains}
    if list(chains.values()) == [""] and not thumb:
        sources = {name: f"0:{video.index}" for name in chains}  # one plain encode: no graph
    elif chains or thumb:
        branches = [*chains, *(["thumb"] if thumb else [])]
        labels = "".join(f"[{b}_in]" for b in branches)
        graph.append(f"[0:{video.index}]split={len(branches)}{labels}")
        graph += [f"[{name}_in]{filters or 'null'}[{name}]" for name, filters in chains.items()]
    if thumb:
        graph.extend(_thumbnail_chains(probe, video, trim=not thumb_only))
    if graph:
        args += ["-filter_complex", ";".join(graph)]
    limit = _limits(probe, plan)
    if plan.hevc is not None:
        video_map = f"0:{video.index}" if plan.hevc.copy else sources["hevc"]
        args += ["-map", video_map, *_audio(probe, plan.audio_bitrate), *limit]
        args += ["-c:v", "copy"] if plan.hevc.copy else _hevc_encoder(video, plan.hevc)
        args += [*_mp4_tail("hvc1"), f"file:{paths['hevc']}"]
    if plan.web is not None:
        source = f"0:{video.index}" if plan.web.copy else sources["web"]
        args += ["-map", source, *_audio(probe, plan.web_audio_bitrate), *limit,
                 *_web_encoder(plan.web), *_mp4_tail("avc1"), f"file:{paths['web']}"]  # fmt: skip
    if thumb:
        for label in ("bright", "any"):
            args += ["-map", f"[thumb_{label}]", "-frames:v", "1", "-c:v", "png",
                     "-f", "image2", "-update", "1", f"file:{paths[label]}"]  # fmt: skip
    return args


def default_names(out_dir: Path) -> dict[str, Path]:
    """Where a run writes each output."""
    return {
        "hevc": out_dir / "hevc.mp4",
        "web": out_dir / "web.mp4",
        "bright": out_dir / "thumb-bright.png",
        "any": out_dir / "thumb-any.png",
    }


def _limits(probe: Probe, plan: VideoPlan) -> list[str]:
    words = []
    if plan.max_frames is not None:
        words += ["-frames:v", str(plan.max_frames)]
    if probe.duration_ms:
        # A container may hold far more than its header declares: decode no further than that.
        words += ["-t", f"{probe.duration_ms / 1000 * 1.05 + 2:.3f}"]
    return words


def _audio(probe: Probe, bitrate: str) -> list[str]:
    audio = probe.audio
    if audio is None:
        return []
    codec = ["-c:a", "copy"] if audio.codec in _PLAYABLE_AUDIO else ["-c:a", "aac", "-b:a", bitrate]
    return ["-map", f"0:{audio.index}", *codec]


def _mp4_tail(tag: str) -> list[str]:
    # No container or stream metadata from the source: a phone's place and device stay in the
    # original. Stream side data (the display matrix) is not metadata and is kept.
    return ["-tag:v", tag, "-map_metadata", "-1", "-map_chapters", "-1",
            "-movflags", "+faststart", "-f", "mp4"]  # fmt: skip


def _web_encoder(web: WebOutput) -> list[str]:
    if web.copy:
        return ["-c:v", "copy"]
    return ["-c:v", "libx264", "-crf", str(web.crf), "-preset", web.preset, "-profile:v", "high",
            "-pix_fmt", "yuv420p", "-fps_mode", "vfr", "-color_primaries", "bt709",
            "-color_trc", "bt709", "-colorspace", "bt709"]  # fmt: skip


def _hevc_filters(video: VideoStream, hevc: HevcOutput) -> str:
    size = hevc_size(video, hevc.max_height)
    if size == (video.width, video.height):
        return ""
    width, height = _coded(video, size)
    return f"scale={width}:{height}"


def _hevc_pix_fmt(video: VideoStream, hevc: HevcOutput) -> str:
    if video.bit_depth <= 8:
        return "yuv420p"
    return "p010le" if hevc.encoder == "hevc_nvenc" else "yuv420p10le"


def _hevc_encoder(video: VideoStream, hevc: HevcOutput) -> list[str]:
    colour = _colour_args(video)
    fps_mode = ["-fps_mode", "vfr"]  # keep the source's timestamps, hence its frame rate
    if hevc.encoder == "hevc_nvenc":
        # NVENC has its own rate control: constant quality in VBR mode with no bitrate cap.
        profile = ["-profile:v", "main10"] if video.bit_depth > 8 else []
        return ["-c:v", "hevc_nvenc", "-rc", "vbr", "-cq", str(hevc.crf), "-b:v", "0",
                "-preset", hevc.nvenc_preset, *profile, "-pix_fmt", _hevc_pix_fmt(video, hevc),
                *colour, *fps_mode]  # fmt: skip
    params = ["log-level=error"]
    if video.hdr == "pq" and video.bit_depth > 8:
        params.append("hdr10-opt=1")
        if hevc.master_display:
            params += ["hdr10=1", f"master-display={hevc.master_display}"]
        if hevc.max_cll:
            params.append(f"max-cll={hevc.max_cll}")
    return ["-c:v", "libx265", "-crf", str(hevc.crf), "-preset", hevc.preset,
            "-x265-params", ":".join(params), "-pix_fmt", _hevc_pix_fmt(video, hevc),
            *colour, *fps_mode]  # fmt: skip


def _colour_args(video: VideoStream) -> list[str]:
    """The source's colour description, written into the output's VUI (HDR stays HDR)."""
    words = []
    for option, value in (("-color_primaries", video.color_primaries),
                          ("-color_trc", video.color_transfer),
                          ("-colorspace", video.color_space),
                          ("-color_range", video.color_range)):  # fmt: skip
        if value:
            words += [option, value]
    return words


def _web_filters(video: VideoStream, web: WebOutput) -> str:
    filters = []
    size = web_size(video, web.max_short_edge)
    if size != (video.width, video.height):
        width, height = _coded(video, size)
        filters.append(f"scale={width}:{height}")
    filters += [*to_sdr(video), "format=yuv420p"]
    return ",".join(filters)


def _thumbnail_chains(probe: Probe, video: VideoStream, *, trim: bool) -> list[str]:
    """Two candidates from the same frames: the most typical bright one, and the most typical."""
    duration_ms = probe.duration_ms or 0
    seek = duration_ms / 10_000 if duration_ms >= _SEEK_AFTER_MS else 0.0
    fps = video.fps or 25.0
    candidates = max(1, min(_MAX_CANDIDATES, round(fps * _SEARCH_WINDOW_S)))
    width, height = _coded(video, thumbnail_size(video))
    filters = []
    if trim:
        # Every frame is decoded for the encodes anyway: only a window goes on from here.
        filters += ["setpts=PTS-STARTPTS", f"trim=start={seek:.3f}:duration={_SEARCH_WINDOW_S:g}"]
    filters += [f"scale={width}:{height}", *to_sdr(video), "format=yuv420p"]
    if video.rotation in _TRANSPOSE:
        filters.append(_TRANSPOSE[video.rotation])
    dark = ("signalstats,metadata=mode=select:key=lavfi.signalstats.YAVG"
            f":value={_DARK_LUMA}:function=greater")  # fmt: skip
    return [
        f"[thumb_in]{','.join(filters)},split=2[tb][ta]",
        f"[tb]{dark},thumbnail=n={candidates}[thumb_bright]",
        f"[ta]thumbnail=n={candidates}[thumb_any]",
    ]


def run_video(
    media: MediaInput,
    probe: Probe,
    plan: VideoPlan,
    out_dir: Path,
    *,
    ffmpeg_bin: str = "ffmpeg",
    timeout: float = 3600.0,
    on_progress: ProgressCallback | None = None,
    on_heartbeat: HeartbeatCallback | None = None,
    heartbeat_interval: float = 5.0,
    sandbox: Sandbox | None = None,
) -> VideoRun:
    """Run the plan (two runs only when nothing is decoded but a thumbnail is wanted)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    kwargs = {"ffmpeg_bin": ffmpeg_bin, "timeout": timeout, "on_heartbeat": on_heartbeat,
              "heartbeat_interval": heartbeat_interval, "sandbox": sandbox}  # fmt: skip
    if plan.thumbnail and not plan.decodes and plan.copies:
        # A stream copy decodes nothing: a short seek-and-decode run makes the thumbnail.
        copied = _run(media, probe, replace(plan, thumbnail=False), out_dir,
                      on_progress=on_progress, **kwargs)  # type: ignore[arg-type]  # fmt: skip
        thumb = _run(media, probe, VideoPlan(), out_dir, **kwargs)  # type: ignore[arg-type]
        return replace(copied, thumbnail=thumb.thumbnail)
    return _run(media, probe, plan, out_dir, on_progress=on_progress, **kwargs)  # type: ignore[arg-type]


def _run(
    media: MediaInput,
    probe: Probe,
    plan: VideoPlan,
    out_dir: Path,
    *,
    ffmpeg_bin: str,
    timeout: float,
    on_progress: ProgressCallback | None = None,
    on_heartbeat: HeartbeatCallback | None,
    heartbeat_interval: float,
    sandbox: Sandbox | None,
) -> VideoRun:
    final = default_names(out_dir)
    wanted = {"hevc": plan.hevc is not None, "web": plan.web is not None,
              "bright": plan.thumbnail, "any": plan.thumbnail}  # fmt: skip
    encodes = plan.hevc is not None or plan.web is not None
    with ExitStack() as stack:
        parts = {name: stack.enter_context(atomic_output(final[name])) for name in final}
        args = video_args(media, probe, plan, out_dir, ffmpeg_bin=ffmpeg_bin, names=parts)
        what = "the HEVC transcode" if plan.hevc is not None else "the video conversion"
        stats = run_ffmpeg(
            args, timeout=timeout, duration_ms=probe.duration_ms if encodes else None,
            on_progress=on_progress, on_heartbeat=on_heartbeat,
            heartbeat_interval=heartbeat_interval, what=what, sandbox=sandbox,
            reads=[media.path], writes=[out_dir],
        )  # fmt: skip
        if encodes:
            check_complete(probe, stats.out_time_ms)
    written = {name: final[name] if wanted[name] and final[name].exists() else None
               for name in final}  # fmt: skip
    if plan.thumbnail and written["bright"] is None and written["any"] is None:
        raise PermanentProcessingError("no video frame could be decoded for a thumbnail")
    for name in ("hevc", "web"):
        if wanted[name] and written[name] is None:
            raise PermanentProcessingError(f"the video could not be converted (no {name} output)")
    return VideoRun(
        hevc=written["hevc"],
        web=written["web"],
        thumbnail=written["bright"] or written["any"],
        stats=stats,
    )


_MAX_SHORTFALL_MS = 500
_MAX_SHORTFALL_RATIO = 0.05


def check_complete(probe: Probe, out_time_ms: int | None) -> None:
    """Refuse an output that covers clearly less than the source (a truncated upload)."""
    expected = probe.duration_ms
    if not expected or out_time_ms is None:
        return
    if expected - out_time_ms > max(_MAX_SHORTFALL_MS, expected * _MAX_SHORTFALL_RATIO):
        raise PermanentProcessingError(
            f"the video is damaged or truncated: only {out_time_ms / 1000:.1f} s "
            f"of {expected / 1000:.1f} s could be decoded"
        )
