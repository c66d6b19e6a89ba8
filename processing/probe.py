"""ffprobe a file into a typed `Probe`; classify it; check it against what was announced."""

from __future__ import annotations

import json
import logging
import re
import subprocess
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

from processing.codecs import audio_codecs, video_codecs
from processing.confinement import setup_failure
from processing.errors import PermanentProcessingError, TransientProcessingError
from processing.inputs import MediaInput, as_input, too_many_pixels
from processing.limits import Sandbox
from processing.runner import readable_error

log = logging.getLogger(__name__)

MediaKind = Literal["video", "image", "audio", "other"]

# Demuxers that only ever hold pictures; ffmpeg names single-image demuxers `<codec>_pipe`.
_IMAGE_FORMATS = frozenset({"image2", "gif", "apng", "webp", "ico", "svg", "heif", "avif"})
_ANIMATED_IMAGE_FORMATS = frozenset({"gif", "apng"})
_MP4_FAMILY = "mov,mp4,m4a,3gp,3g2,mj2"


@dataclass(frozen=True)
class VideoStream:
    """The first real video stream (cover art is not video); width/height as displayed."""

    index: int
    codec: str
    codec_tag: str
    width: int
    height: int
    rotation: int
    frame_rate: Fraction | None
    pix_fmt: str | None
    bit_rate: int | None
    frame_count: int | None
    profile: str | None = None
    color_transfer: str | None = None
    color_primaries: str | None = None
    color_space: str | None = None
    color_range: str | None = None
    codecs: str | None = None  # RFC 6381, from the decoder configuration record

    @property
    def bit_depth(self) -> int:
        """Bits per component of the pixel format (8 when it does not say)."""
        pix_fmt = self.pix_fmt or ""
        found = re.search(r"p(\d{2})(?:le|be)?$", pix_fmt) or re.match(r"p0(\d{2})", pix_fmt)
        return int(found.group(1)) if found else 8

    @property
    def hdr(self) -> str | None:
        """ "pq" or "hlg" for high dynamic range video, else None."""
        return {"smpte2084": "pq", "arib-std-b67": "hlg"}.get(self.color_transfer or "")

    @property
    def fps(self) -> float | None:
        """The frame rate as a float, None when unknown."""
        return float(self.frame_rate) if self.frame_rate is not None else None


@dataclass(frozen=True)
class AudioStream:
    """The first audio stream."""

    index: int
    codec: str
    channels: int | None
    sample_rate: int | None
    bit_rate: int | None
    profile: str | None = None
    codecs: str | None = None


@dataclass(frozen=True)
class Probe:
    """What ffprobe says about one file."""

    format_name: str
    duration_ms: int | None
    size: int | None
    bit_rate: int | None
    video: VideoStream | None
    audio: AudioStream | None
    tags: dict[str, str] = field(default_factory=dict)  # the container's own (format) tags

    @property
    def codecs(self) -> str | None:
        """The codecs string of the file's video and audio, None when one of them is unknown."""
        parts = [s.codecs for s in (self.video, self.audio) if s is not None]
        return ", ".join(p for p in parts if p) if parts and all(parts) else None

    @property
    def has_video(self) -> bool:
        """A real video (or picture) stream is present."""
        return self.video is not None

    @property
    def has_audio(self) -> bool:
        """An audio stream is present."""
        return self.audio is not None

    @property
    def is_image(self) -> bool:
        """The picture stream is an image (still or animated), not a video."""
        if self.video is None:
            return False
        return _is_image_format(self.format_name) or self.video.frame_count == 1

    @property
    def is_still_image(self) -> bool:
        """A single picture: an image demuxer that is not animated, or one frame only."""
        if self.video is None or not self.is_image:
            return False
        animated = self.format_name in _ANIMATED_IMAGE_FORMATS
        return not animated or self.video.frame_count == 1

    @property
    def is_mp4(self) -> bool:
        """The container is MP4/QuickTime (what browsers play HEVC from)."""
        return self.format_name == _MP4_FAMILY


def probe_file(
    source: MediaInput | Path,
    *,
    ffprobe: str = "ffprobe",
    timeout: float = 30.0,
    sandbox: Sandbox | None = None,
) -> Probe:
    """Run ffprobe on a recognised local file; unreadable input raises PermanentProcessingError."""
    media = as_input(source)
    limits = sandbox or Sandbox()
    cmd = limits.command([
        ffprobe, "-v", "error", "-print_format", "json", "-show_format", "-show_streams",
        "-show_data", *media.argv(),
    ], reads=[media.path])  # fmt: skip
    try:
        done = subprocess.run(
            cmd, capture_output=True, timeout=timeout, check=False, env=limits.env
        )
    except subprocess.TimeoutExpired as exc:
        raise TransientProcessingError(f"ffprobe took longer than {timeout:g} s") from exc
    except OSError as exc:
        raise TransientProcessingError(f"cannot run {ffprobe}: {exc}") from exc
    stderr = done.stderr.decode("utf-8", "replace").replace(f"{media.url}: ", "").strip()
    pixels = _exceeded_pixels(stderr)
    if pixels is not None:
        raise too_many_pixels(pixels, media.max_pixels)
    if done.returncode != 0:
        unconfined = setup_failure(done.returncode, stderr)
        if unconfined is not None:
            raise unconfined
        detail = readable_error(stderr) or f"ffprobe exited with {done.returncode}"
        raise PermanentProcessingError(f"not a valid {media.format.name.upper()} file ({detail})")
    try:
        data = json.loads(done.stdout)
    except ValueError as exc:
        raise PermanentProcessingError("not a media file we can read (no ffprobe report)") from exc
    result = parse_probe(data)
    if result.video is not None and (result.video.width <= 0 or result.video.height <= 0):
        raise PermanentProcessingError("the picture's size cannot be read")
    log.debug("probed %s: %s", media.path.name, result)
    return result


def _exceeded_pixels(stderr: str) -> tuple[int, int] | None:
    """The size a decoder refused as over `-max_pixels`, from its message."""
    found = re.search(r"Picture size (\d+)x(\d+) exceeds specified max pixel count", stderr)
    return (int(found.group(1)), int(found.group(2))) if found else None


def parse_probe(data: dict[str, Any]) -> Probe:
    """Build a `Probe` from ffprobe's JSON (`-show_format -show_streams`)."""
    fmt = data.get("format") or {}
    streams: list[dict[str, Any]] = data.get("streams") or []
    video_raw = next((s for s in streams if _is_real_video(s)), None)
    audio_raw = next((s for s in streams if s.get("codec_type") == "audio"), None)
    format_name = str(fmt.get("format_name", ""))
    container = "webm" if format_name.startswith("matroska") else "mp4"
    video = _video(video_raw, container) if video_raw is not None else None
    duration = _float(fmt.get("duration"))
    if duration is None and video_raw is not None:
        duration = _float(video_raw.get("duration"))
    still = (
        video is not None
        and _is_image_format(format_name)
        and format_name not in _ANIMATED_IMAGE_FORMATS
    )
    return Probe(
        format_name=format_name,
        # A picture's "duration" is one frame time, which means nothing to anyone.
        duration_ms=None if still or duration is None else round(duration * 1000),
        size=_int(fmt.get("size")),
        bit_rate=_int(fmt.get("bit_rate")),
        video=video,
        audio=_audio(audio_raw, container) if audio_raw is not None else None,
        tags={str(k): str(v)[:200] for k, v in list((fmt.get("tags") or {}).items())[:100]},
    )


def classify(probe: Probe, announced_content_type: str | None = None) -> MediaKind:
    """video | image | audio | other, from the streams; the announced type breaks ties."""
    major = _major(announced_content_type)
    if probe.video is not None and not probe.is_image:
        return "video"
    if probe.video is not None:
        # A still picture with sound (a song with artwork not flagged as such) is audio.
        if probe.has_audio and (major == "audio" or probe.is_still_image):
            return "audio"
        return "image"
    if probe.has_audio:
        return "audio"
    return "other"


def check_announced(
    probe: Probe,
    path_size: int,
    announced_size: int | None,
    announced_content_type: str | None,
) -> None:
    """Raise PermanentProcessingError when the file is not what was announced at presign."""
    if announced_size is not None and path_size != announced_size:
        raise PermanentProcessingError(
            f"size mismatch: {announced_size} bytes were announced, the file has {path_size}"
        )
    major = _major(announced_content_type)
    kind = classify(probe, announced_content_type)
    expected = {"video": "video", "image": "image", "audio": "audio"}.get(major or "")
    if expected is not None and kind != expected:
        found = _describe(probe, kind)
        raise PermanentProcessingError(
            f"announced as {announced_content_type} but the file is {found}"
        )


def _describe(probe: Probe, kind: MediaKind) -> str:
    """A short readable account of what the file is, for error messages."""
    if probe.video is not None and kind == "image":
        return f"a still image ({probe.video.codec})"
    if kind == "audio" and probe.audio is not None:
        return f"audio only ({probe.audio.codec})"
    if kind == "video" and probe.video is not None:
        return f"a video ({probe.video.codec})"
    return f"neither audio nor video ({probe.format_name or 'unknown format'})"


def _major(content_type: str | None) -> str | None:
    if not content_type:
        return None
    return content_type.split(";", 1)[0].split("/", 1)[0].strip().lower() or None


def _is_image_format(format_name: str) -> bool:
    return format_name in _IMAGE_FORMATS or format_name.endswith("_pipe")


def _is_real_video(stream: dict[str, Any]) -> bool:
    # Cover art in songs and "timed thumbnails" are pictures attached to something else.
    disposition = stream.get("disposition") or {}
    return (
        stream.get("codec_type") == "video"
        and not disposition.get("attached_pic")
        and not disposition.get("timed_thumbnails")
    )


def _video(raw: dict[str, Any], container: str = "mp4") -> VideoStream:
    width = _int(raw.get("width")) or 0
    height = _int(raw.get("height")) or 0
    rotation = _rotation(raw)
    if rotation in (90, 270):
        width, height = height, width
    return VideoStream(
        index=int(raw["index"]),
        codec=str(raw.get("codec_name", "unknown")),
        codec_tag=str(raw.get("codec_tag_string", "")),
        width=width,
        height=height,
        rotation=rotation,
        frame_rate=_frame_rate(raw),
        pix_fmt=raw.get("pix_fmt"),
        bit_rate=_int(raw.get("bit_rate")),
        frame_count=_int(raw.get("nb_frames")),
        profile=_str(raw.get("profile")),
        color_transfer=_str(raw.get("color_transfer")),
        color_primaries=_str(raw.get("color_primaries")),
        color_space=_str(raw.get("color_space")),
        color_range=_str(raw.get("color_range")),
        codecs=video_codecs(raw, container),
    )


def _audio(raw: dict[str, Any], container: str = "mp4") -> AudioStream:
    return AudioStream(
        index=int(raw["index"]),
        codec=str(raw.get("codec_name", "unknown")),
        channels=_int(raw.get("channels")),
        sample_rate=_int(raw.get("sample_rate")),
        bit_rate=_int(raw.get("bit_rate")),
        profile=_str(raw.get("profile")),
        codecs=audio_codecs(raw, container),
    )


def _rotation(raw: dict[str, Any]) -> int:
    """Rotation in degrees, one of 0/90/180/270, from the display matrix or the old tag."""
    value: float | None = None
    for side in raw.get("side_data_list") or []:
        if "rotation" in side:
            value = _float(side["rotation"])
            break
    if value is None:
        value = _float((raw.get("tags") or {}).get("rotate"))
    return 0 if value is None else round(value / 90) * 90 % 360


def _frame_rate(raw: dict[str, Any]) -> Fraction | None:
    # avg_frame_rate is the truth for variable-rate phone footage; r_frame_rate is a fallback.
    for key in ("avg_frame_rate", "r_frame_rate"):
        text = str(raw.get(key) or "")
        try:
            rate = Fraction(text)
        except (ValueError, ZeroDivisionError):
            continue
        if rate > 0:
            return rate
    return None


def _str(value: Any) -> str | None:
    text = str(value)[:64] if isinstance(value, str | int) else None
    return None if text in (None, "", "unknown") else text


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
