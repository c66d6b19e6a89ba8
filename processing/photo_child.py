"""The child process that decodes one photo with Pillow; started by `processing.photos` only.

It runs under the job's Sandbox (address space, CPU time, niceness, and the confinement of
`processing.confinement`: no credentials, no privileges, no network), so a hostile picture
that makes a decoder misbehave takes down this process alone. Order of work: open with the one
Pillow plugin the sniffed format names, refuse the pixel count from the header, read the
capture metadata, and only then decode (JPEG at a reduced scale where that is enough), turn
upright, convert to sRGB and write the derived pictures, which carry no metadata at all.
Prints one JSON object on stdout.
"""

from __future__ import annotations

import argparse
import importlib
import io
import json
import os
import signal
import sys
import warnings
from pathlib import Path
from typing import Any

from PIL import Image, ImageOps, WebPImagePlugin

from processing.capture import Capture, from_exif

# Pillow's plugin for each format of the allow-list that it decodes; each module is imported
# alone, since opening a format whose plugin is not loaded yet makes Pillow import all of them.
_MODULES = {"webp": "PIL.WebPImagePlugin", "tiff": "PIL.TiffImagePlugin",
            "avif": "PIL.AvifImagePlugin"}  # fmt: skip
PLUGINS = {
    "jpeg": "JPEG", "png": "PNG", "gif": "GIF", "webp": "WEBP", "bmp": "BMP", "tiff": "TIFF",
    "heif": "HEIF", "avif": "AVIF",
}  # fmt: skip
# Encoder settings: WebP at these qualities keeps a typical 320 px thumbnail near 10 KB.
WEBP_QUALITY = {"thumb": 75, "preview": 80}
JPEG_QUALITY = {"thumb": 80, "preview": 85}
_BACKDROP = (255, 255, 255)
assert WebPImagePlugin  # loaded for saving WebP without loading every other plugin
_EXIT_TOO_LARGE = 3
_EXIT_UNREADABLE = 4
_EXIT_OUT_OF_CPU = 128 + signal.SIGXCPU


class Refused(Exception):
    """The picture is refused; the message says why (exit status says which kind)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def fit(width: int, height: int, long_edge: int) -> tuple[int, int]:
    """Scale so the longer side is at most `long_edge`, keeping aspect; never upscale."""
    longest = max(width, height)
    if longest <= long_edge:
        return width, height
    scale = long_edge / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def open_picture(path: Path, fmt: str, max_pixels: int) -> Image.Image:
    """Open with the format's own plugin only and check its size, decoding no pixels."""
    plugin = PLUGINS.get(fmt)
    if plugin is None:
        raise Refused(f"{fmt} is not a photo format", _EXIT_UNREADABLE)
    if plugin == "HEIF":
        import pillow_heif

        pillow_heif.register_heif_opener()
    elif fmt in _MODULES:
        importlib.import_module(_MODULES[fmt])
    # Our own cap decides; Pillow's bomb check would only make a second, vaguer refusal.
    Image.MAX_IMAGE_PIXELS = None
    try:
        picture = Image.open(path, formats=[plugin])
    except (OSError, ValueError, SyntaxError) as error:
        raise Refused(f"not a valid {fmt.upper()} image ({error})", _EXIT_UNREADABLE) from None
    width, height = picture.size
    if width <= 0 or height <= 0:
        raise Refused("the picture's size cannot be read", _EXIT_UNREADABLE)
    if width * height > max_pixels:
        raise Refused(f"{width}x{height}", _EXIT_TOO_LARGE)
    return picture


def capture_of(picture: Image.Image) -> Capture:
    """Capture facts from the picture's EXIF (never fails: odd metadata is dropped)."""
    try:
        return from_exif(picture.getexif())
    except Exception:  # hostile metadata: dropped, never fatal
        return Capture()


def upright_srgb(picture: Image.Image, long_edge: int) -> Image.Image:
    """Decode (reduced where the format allows), turn upright, lay alpha on white, sRGB."""
    orientation = _orientation(picture)
    width, height = picture.size
    if orientation in (5, 6, 7, 8):
        width, height = height, width
    if picture.format == "JPEG":
        # DCT scaling: decode at 1/2…1/8 while staying at least as large as the target.
        target = fit(width, height, long_edge)
        stored = target if orientation not in (5, 6, 7, 8) else (target[1], target[0])
        picture.draft("RGB", stored)
    icc = picture.info.get("icc_profile")
    upright = ImageOps.exif_transpose(picture) or picture
    flat = _flatten(upright)
    return _to_srgb(flat, icc) if icc else flat


def _orientation(picture: Image.Image) -> int:
    try:
        value = picture.getexif().get(0x0112, 1)
    except Exception:  # hostile metadata: dropped, never fatal
        return 1
    return value if isinstance(value, int) and 1 <= value <= 8 else 1


def _flatten(picture: Image.Image) -> Image.Image:
    """RGB (or CMYK/L, kept for the colour conversion), transparency laid on white."""
    if picture.mode in ("RGB", "CMYK", "L"):
        return picture
    if picture.mode.startswith("I;16") or picture.mode in ("I", "F"):
        scaled = picture.convert("I").point(lambda value: value / 256)
        return scaled.convert("L")
    has_alpha = picture.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (
        picture.mode == "P" and "transparency" in picture.info
    )
    if not has_alpha:
        return picture.convert("RGB")
    rgba = picture.convert("RGBA")
    backdrop = Image.new("RGB", rgba.size, _BACKDROP)
    backdrop.paste(rgba, mask=rgba.getchannel("A"))
    return backdrop


def _to_srgb(picture: Image.Image, icc: bytes) -> Image.Image:
    """Colours from the embedded profile into sRGB, so that they look alike everywhere."""
    from PIL import ImageCms  # LittleCMS costs 40 ms to load: only for pictures with a profile

    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        srgb = ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB"))
        converted = ImageCms.profileToProfile(
            picture, source, srgb, renderingIntent=ImageCms.Intent.PERCEPTUAL, outputMode="RGB"
        )
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        # A profile that does not fit the pixels (or is damaged) is ignored, as browsers do.
        return picture.convert("RGB")
    assert converted is not None
    return converted


def write(picture: Image.Image, out_dir: Path, name: str) -> dict[str, dict[str, int]]:
    """The picture as WebP and JPEG (no EXIF, no ICC: sRGB is the default of both)."""
    written = {}
    for ext, options in (
        ("webp", {"format": "WEBP", "quality": WEBP_QUALITY[name], "method": 4}),
        ("jpg", {"format": "JPEG", "quality": JPEG_QUALITY[name], "optimize": True,
                 "progressive": name == "preview"}),
    ):  # fmt: skip
        path = out_dir / f"{name}.{ext}"
        picture.save(path, **options)  # type: ignore[arg-type]
        written[f"{name}.{ext}"] = {
            "width": picture.width, "height": picture.height, "size": path.stat().st_size,
        }  # fmt: skip
    return written


def render(
    path: Path, fmt: str, out_dir: Path, *, max_pixels: int, thumb: int, preview: int | None
) -> dict[str, Any]:
    """Everything the job needs from one photo; raises Refused."""
    picture = open_picture(path, fmt, max_pixels)
    stored = picture.size
    orientation = _orientation(picture)
    capture = capture_of(picture)
    frames = getattr(picture, "n_frames", 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            base = upright_srgb(picture, preview or thumb)
            shown = (stored[1], stored[0]) if orientation in (5, 6, 7, 8) else stored
            outputs: dict[str, dict[str, int]] = {}
            if preview is not None:
                large = _resize(base, fit(*shown, preview))
                outputs.update(write(large, out_dir, "preview"))
                base = large
            small = _resize(base, fit(*shown, thumb))
            outputs.update(write(small.convert("RGB"), out_dir, "thumb"))
    except (OSError, ValueError, SyntaxError, EOFError) as error:
        raise Refused(f"the image could not be decoded ({error})", _EXIT_UNREADABLE) from None
    return {
        "format": fmt,
        "stored": list(stored),
        "width": shown[0],
        "height": shown[1],
        "orientation": orientation,
        "frames": frames,
        "capture": capture.to_json(),
        "outputs": outputs,
    }


def _resize(picture: Image.Image, size: tuple[int, int]) -> Image.Image:
    rgb = picture if picture.mode == "RGB" else picture.convert("RGB")
    if rgb.size == size:
        return rgb
    # reducing_gap: a fast box reduction first, then Lanczos over the last 3x (Pillow's advice).
    return rgb.resize(size, Image.Resampling.LANCZOS, reducing_gap=3.0)


def main(argv: list[str] | None = None) -> int:
    """`python -m processing.photo_child --format F --out DIR FILE`: print what it made."""
    parser = argparse.ArgumentParser(prog="processing.photo_child", description=main.__doc__)
    parser.add_argument("--format", required=True, choices=sorted(PLUGINS))
    parser.add_argument("--out", required=True, type=Path)
    parser.add_argument("--max-pixels", required=True, type=int)
    parser.add_argument("--thumb", type=int, default=320)
    parser.add_argument("--preview", type=int, default=None)
    parser.add_argument("file", type=Path)
    args = parser.parse_args(argv)
    # The first process of its own PID namespace ignores a signal it has no handler for, and
    # SIGXCPU (past the CPU-time limit) must still end it.
    signal.signal(signal.SIGXCPU, lambda *_: os._exit(_EXIT_OUT_OF_CPU))
    try:
        result = render(args.file, args.format, args.out, max_pixels=args.max_pixels,
                        thumb=args.thumb, preview=args.preview)  # fmt: skip
    except Refused as refused:
        sys.stderr.write(f"{refused}\n")
        return refused.status
    except MemoryError:
        sys.stderr.write("out of memory\n")
        return 5
    json.dump(result, sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
