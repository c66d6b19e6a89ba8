"""The formats MediaVault accepts: announced types, magic bytes, the one demuxer that reads each.

This table is the allow-list. An upload must announce one of its types; the worker then sniffs
the bytes, and only the container found there, read by its own demuxer (never probed for, never
a playlist or a manifest), is opened. Nothing outside the table is served, so storage can never
hand a browser HTML, SVG or XML.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

Kind = str  # video | image | audio


@dataclass(frozen=True)
class Format:
    """One container format we read."""

    name: str
    demuxer: str  # ffmpeg's -f: the only demuxer allowed to open the file
    kinds: tuple[Kind, ...]  # what the file may turn out to hold
    content_types: tuple[str, ...]  # announced types that mean this format; the first per kind
    extension: str
    # Who decodes it: ffmpeg (through `demuxer` alone), or Pillow in a sandboxed child process
    # (HEIF/AVIF, which Debian's ffmpeg cannot read as pictures; `demuxer` then names no demuxer).
    decoder: str = "ffmpeg"


FORMATS: tuple[Format, ...] = (
    Format("mp4", "mov", ("video", "audio"),
           ("video/mp4", "audio/mp4", "video/quicktime", "video/x-m4v", "video/3gpp",
            "video/3gpp2", "audio/x-m4a", "audio/m4a"), ".mp4"),
    Format("matroska", "matroska", ("video", "audio"),
           ("video/webm", "audio/webm", "video/x-matroska", "audio/x-matroska"), ".mkv"),
    Format("avi", "avi", ("video",), ("video/x-msvideo", "video/avi"), ".avi"),
    Format("mpegts", "mpegts", ("video",), ("video/mp2t",), ".ts"),
    Format("mpegps", "mpeg", ("video",), ("video/mpeg",), ".mpg"),
    Format("ogg", "ogg", ("audio", "video"), ("audio/ogg", "video/ogg", "audio/opus"), ".ogg"),
    Format("jpeg", "jpeg_pipe", ("image",), ("image/jpeg", "image/pjpeg"), ".jpg"),
    Format("png", "png_pipe", ("image",), ("image/png", "image/apng"), ".png"),
    Format("gif", "gif", ("image",), ("image/gif",), ".gif"),
    Format("webp", "webp_pipe", ("image",), ("image/webp",), ".webp"),
    Format("bmp", "bmp_pipe", ("image",), ("image/bmp", "image/x-ms-bmp"), ".bmp"),
    Format("tiff", "tiff_pipe", ("image",), ("image/tiff",), ".tiff"),
    Format("heif", "heif", ("image",),
           ("image/heic", "image/heif", "image/heic-sequence", "image/heif-sequence"), ".heic",
           decoder="pillow"),
    Format("avif", "avif", ("image",), ("image/avif",), ".avif", decoder="pillow"),
    Format("mp3", "mp3", ("audio",), ("audio/mpeg", "audio/mp3"), ".mp3"),
    Format("aac", "aac", ("audio",), ("audio/aac", "audio/x-aac"), ".aac"),
    Format("flac", "flac", ("audio",), ("audio/flac", "audio/x-flac"), ".flac"),
    Format("wav", "wav", ("audio",), ("audio/wav", "audio/x-wav", "audio/wave"), ".wav"),
)  # fmt: skip

_BY_TYPE = {content_type: fmt for fmt in FORMATS for content_type in fmt.content_types}
_BY_NAME = {fmt.name: fmt for fmt in FORMATS}
SNIFF_BYTES = 4096  # how much of the head `sniff` needs

# ftyp brands of HEIF pictures: MP4-shaped files that are read as pictures, never as video.
# Structural brands (mif1/msf1, also the major brand of many AVIF files) say only "HEIF": the
# compatible brands then tell HEVC-coded from AV1-coded pictures.
_HEIF_BRANDS = frozenset({b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx"})
_AVIF_BRANDS = frozenset({b"avif", b"avis"})
_STRUCTURAL_BRANDS = frozenset({b"mif1", b"msf1", b"miaf"})
_PICTURE_BRANDS = _HEIF_BRANDS | _AVIF_BRANDS | _STRUCTURAL_BRANDS
_QUICKTIME_ATOMS = frozenset({b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot"})


def announced_format(content_type: str) -> Format | None:
    """The format an announced (already normalised) content type stands for, if accepted."""
    return _BY_TYPE.get(content_type)


def kind_of(content_type: str) -> Kind:
    """video, image or audio from an accepted announced type."""
    return content_type.split("/", 1)[0]


def format_named(name: str) -> Format:
    """A format by its name."""
    return _BY_NAME[name]


def served_type(fmt: Format, announced: str, kind: Kind) -> str:
    """The Content-Type the validated original is stored and served with (never active)."""
    if announced in fmt.content_types and kind_of(announced) == kind:
        return announced
    return next((t for t in fmt.content_types if kind_of(t) == kind), fmt.content_types[0])


def _ftyp_brands(head: bytes) -> tuple[bytes, list[bytes]]:
    """The major brand and the compatible brands of a leading `ftyp` box (empty if none)."""
    if head[4:8] != b"ftyp":
        return b"", []
    size = int.from_bytes(head[:4], "big")
    end = min(max(size, 16), len(head), 256)  # a brand list longer than that says nothing more
    return head[8:12], [head[i : i + 4] for i in range(16, end - 3, 4)]


def _heif_picture(head: bytes) -> str | None:
    """ "avif" or "heif" for a HEIF picture file, None for anything else (MP4 video included)."""
    major, compatible = _ftyp_brands(head)
    if major in _AVIF_BRANDS:
        return "avif"
    if major in _HEIF_BRANDS:
        return "heif"
    if major in _STRUCTURAL_BRANDS:
        return "avif" if _AVIF_BRANDS.intersection(compatible) else "heif"
    return None


def _riff(kind: bytes) -> Callable[[bytes], bool]:
    return lambda head: head.startswith(b"RIFF") and head[8:12] == kind


def _starts(*prefixes: bytes) -> Callable[[bytes], bool]:
    return lambda head: head.startswith(prefixes)


def _mpeg_audio(layer_bits: int) -> Callable[[bytes], bool]:
    # A frame header: 11 sync bits, then version and layer (III: 01, ADTS AAC: 00).
    mask = 0xE6 if layer_bits else 0xF6
    value = 0xE0 | layer_bits if layer_bits else 0xF0
    return lambda head: len(head) > 1 and head[0] == 0xFF and head[1] & mask == value


# Checked in order: the first signature that matches names the container.
_SIGNATURES: tuple[tuple[Callable[[bytes], bool], str], ...] = (
    (lambda head: _heif_picture(head) == "avif", "avif"),
    (lambda head: _heif_picture(head) == "heif", "heif"),
    (lambda head: head[4:8] == b"ftyp" and head[8:12] not in _PICTURE_BRANDS, "mp4"),
    (lambda head: head[4:8] in _QUICKTIME_ATOMS, "mp4"),
    (_starts(b"\x1a\x45\xdf\xa3"), "matroska"),
    (_riff(b"AVI "), "avi"),
    (_riff(b"WEBP"), "webp"),
    (_riff(b"WAVE"), "wav"),
    (lambda head: head[:1] == head[188:189] == head[376:377] == b"\x47", "mpegts"),
    (_starts(b"\x00\x00\x01\xba"), "mpegps"),
    (_starts(b"OggS"), "ogg"),
    (_starts(b"\xff\xd8\xff"), "jpeg"),
    (_starts(b"\x89PNG\r\n\x1a\n"), "png"),
    (_starts(b"GIF87a", b"GIF89a"), "gif"),
    (lambda head: head.startswith(b"BM") and head[6:10] == b"\x00\x00\x00\x00", "bmp"),
    (_starts(b"II*\x00", b"MM\x00*"), "tiff"),
    (_starts(b"fLaC"), "flac"),
    (_starts(b"ID3"), "mp3"),
    (_mpeg_audio(0x02), "mp3"),
    (_mpeg_audio(0x00), "aac"),
)

# What refused files commonly are, so that the error can say so (nothing of them is echoed).
_REFUSED: tuple[tuple[Callable[[bytes], bool], str], ...] = (
    (lambda text: text.startswith(b"#extm3u"), "an HLS playlist"),
    (lambda text: text.startswith(b"ffconcat"), "an ffconcat list"),
    (lambda text: b"<mpd" in text[:512], "a DASH manifest"),
    (lambda text: b"<svg" in text[:512], "SVG"),
    (lambda text: text.startswith((b"<!doctype html", b"<html")) or b"<script" in text[:512],
     "HTML"),
    (lambda text: text.startswith(b"<?xml"), "XML"),
    (lambda text: text.startswith((b"v=0", b"o=", b"s=")), "an SDP description"),
)  # fmt: skip


def sniff(head: bytes) -> Format | None:
    """The accepted container these first bytes begin, or None (anything else is refused)."""
    return next((_BY_NAME[name] for matches, name in _SIGNATURES if matches(head)), None)


def describe_unknown(head: bytes) -> str:
    """A few words on what a refused file looks like, for its error (no content echoed)."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    found = next((what for matches, what in _REFUSED if matches(text)), None)
    if found is not None:
        return found
    if head and all(32 <= byte < 127 or byte in b"\t\r\n" for byte in head[:512]):
        return "text"
    return "unrecognised data"
