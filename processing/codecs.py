"""RFC 6381 `codecs` strings of a file's streams, so that a browser can tell before it downloads.

A `<source type='video/mp4; codecs="hvc1.2.4.L120.B0, mp4a.40.2"'>` is skipped by a browser that
cannot decode it, and the next source is tried; a bare `video/mp4` is fetched and, when only its
sound decodes, plays as sound over a black frame. The strings are read from the decoder
configuration records (avcC, hvcC, av1C) that ffprobe shows as the streams' extradata.
"""

from __future__ import annotations

import re
from typing import Any

_HEX_LINE = re.compile(r"^[0-9a-f]{8}:((?: [0-9a-f]{2,4})+)", re.IGNORECASE | re.MULTILINE)
_MAX_EXTRADATA = 64
# AAC object types by ffprobe's profile name (ISO 14496-3); LC when it says nothing.
_AAC_OBJECT = {"LC": 2, "HE-AAC": 5, "HE-AACv2": 29, "Main": 1, "LTP": 4}
# Audio that MP4 and WebM name without parameters.
_PLAIN_AUDIO = {"opus": "opus", "flac": "flac", "vorbis": "vorbis", "ac3": "ac-3",
                "eac3": "ec-3", "alac": "alac", "mp3": "mp4a.6B"}  # fmt: skip
_WEBM_NAMES = {"vp8": "vp8", "vp9": "vp9", "av1": "av01", "opus": "opus", "vorbis": "vorbis"}


def extradata_bytes(dump: object) -> bytes:
    """The first bytes of ffprobe's hex dump of a stream's extradata (`-show_data`)."""
    if not isinstance(dump, str):
        return b""
    data = bytearray()
    for found in _HEX_LINE.finditer(dump[:4096]):
        data += bytes.fromhex(found.group(1).replace(" ", ""))
        if len(data) >= _MAX_EXTRADATA:
            break
    return bytes(data[:_MAX_EXTRADATA])


def video_codecs(stream: dict[str, Any], container: str = "mp4") -> str | None:
    """The codecs string of an ffprobe video stream, or None when it cannot be known."""
    codec = stream.get("codec_name")
    if container == "webm":
        return _WEBM_NAMES.get(str(codec)) if codec in ("vp8", "vp9") else None
    data = extradata_bytes(stream.get("extradata"))
    tag = str(stream.get("codec_tag_string") or "")
    if codec == "h264":
        return _avc(data, "avc3" if tag == "avc3" else "avc1")
    if codec == "hevc":
        return _hevc(data, "hev1" if tag == "hev1" else "hvc1")
    if codec == "av1":
        return _av1(data)
    return None


def audio_codecs(stream: dict[str, Any], container: str = "mp4") -> str | None:
    """The codecs string of an ffprobe audio stream, or None when it cannot be known."""
    codec = str(stream.get("codec_name"))
    if container == "webm":
        return _WEBM_NAMES.get(codec) if codec in ("opus", "vorbis") else None
    if codec == "aac":
        return f"mp4a.40.{_AAC_OBJECT.get(str(stream.get('profile')), 2)}"
    return _PLAIN_AUDIO.get(codec)


def _avc(data: bytes, tag: str) -> str | None:
    # avcC: configurationVersion 1, then profile_idc, constraint flags and level_idc.
    if len(data) < 4 or data[0] != 1:
        return None
    return f"{tag}.{data[1]:02X}{data[2]:02X}{data[3]:02X}"


def _hevc(data: bytes, tag: str) -> str | None:
    # hvcC: version 1; profile space, tier and profile; 32 compatibility flags; 48 constraint
    # flags; level. RFC 6381/ISO 14496-15 E.3: compatibility flags bit-reversed, in hex;
    # constraint bytes in hex, trailing zero bytes left out.
    if len(data) < 13 or data[0] != 1:
        return None
    space = "" if data[1] >> 6 == 0 else "ABC"[(data[1] >> 6) - 1]
    tier = "H" if data[1] & 0x20 else "L"
    profile = data[1] & 0x1F
    compat = int(f"{int.from_bytes(data[2:6], 'big'):032b}"[::-1], 2)
    constraints = list(data[6:12])
    while constraints and constraints[-1] == 0:
        constraints.pop()
    parts = [tag, f"{space}{profile}", f"{compat:X}", f"{tier}{data[12]}"]
    parts += [f"{byte:X}" for byte in constraints]
    return ".".join(parts)


def _av1(data: bytes) -> str | None:
    # av1C: marker and version (0x81), seq_profile and seq_level_idx_0, then tier and depth.
    if len(data) < 4 or data[0] != 0x81:
        return None
    profile, level = data[1] >> 5, data[1] & 0x1F
    tier = "H" if data[2] & 0x80 else "M"
    depth = 12 if data[2] & 0x20 and data[2] & 0x40 else 10 if data[2] & 0x40 else 8
    return f"av01.{profile}.{level:02d}{tier}.{depth:02d}"


def mime_type(container_type: str, codecs: str | None) -> str:
    """`video/mp4; codecs="…"`, or the bare container type when the codecs are unknown."""
    return f'{container_type}; codecs="{codecs}"' if codecs else container_type
