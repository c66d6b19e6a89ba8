"""MIME types with codecs (RFC 6381) for a file, so a browser can skip a source it cannot play.

`<source type="video/mp4">` says nothing about HEVC: Chromium without an HEVC decoder picks it,
plays the sound over a black frame and never tries the next source. With the codecs named,
`canPlayType` answers "" for it and the browser moves on to one it can decode.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from processing.probe import AudioStream, Probe, VideoStream

# H.264 profile_idc and constraint flags, as ffprobe names the profile.
_AVC_PROFILES = {
    "constrained baseline": "42E0",
    "baseline": "4200",
    "main": "4D40",
    "extended": "5800",
    "high": "6400",
    "high 10": "6E00",
    "high 4:2:2": "7A00",
    "high 4:4:4 predictive": "F400",
}
# HEVC general_profile_idc and compatibility flags (bits reversed, in hex), as browsers list them.
_HEVC_PROFILES = {"main": "1.6", "main 10": "2.4", "main still picture": "3.E", "rext": "4.10"}
_AAC_OBJECT_TYPES = {"lc": "2", "he-aac": "5", "he-aacv2": "29", "main": "1", "ltp": "4"}


def video_codec(video: VideoStream) -> str | None:
    """The RFC 6381 string of a video stream, or None when it cannot be told."""
    profile = (video.profile or "").lower()
    level = video.level if video.level and video.level > 0 else None
    if video.codec == "h264" and profile in _AVC_PROFILES and level is not None:
        return f"avc1.{_AVC_PROFILES[profile]}{level:02X}"
    if video.codec == "hevc":
        tag = "hev1" if video.codec_tag == "hev1" else "hvc1"
        flags = _HEVC_PROFILES.get(profile, "1.6")
        return f"{tag}.{flags}.L{level or 93}.B0"
    if video.codec == "vp9":
        return "vp09.00.10.08"  # profile 0, level 1, 8-bit: what every VP9 decoder takes
    if video.codec == "av1":
        return "av01.0.05M.08"
    if video.codec == "vp8":
        return "vp8"
    return None


def audio_codec(audio: AudioStream) -> str | None:
    """The RFC 6381 string of an audio stream, or None when it cannot be told."""
    if audio.codec == "aac":
        return f"mp4a.40.{_AAC_OBJECT_TYPES.get((audio.profile or 'lc').lower(), '2')}"
    return {"mp3": "mp4a.6B", "opus": "opus", "vorbis": "vorbis", "flac": "flac"}.get(audio.codec)


def mime_with_codecs(container_type: str, probe: Probe) -> str:
    """`container_type; codecs="…"` for the file's streams (the bare type when unknown)."""
    codecs = []
    if probe.video is not None and not probe.is_image:
        codecs.append(video_codec(probe.video))
    if probe.audio is not None:
        codecs.append(audio_codec(probe.audio))
    if not codecs or None in codecs:
        return container_type
    return f'{container_type}; codecs="{", ".join(c for c in codecs if c)}"'
