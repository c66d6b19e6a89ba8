"""The one file ffmpeg may read for a job, and the only demuxer and protocol allowed to read it.

ffmpeg follows what a file names: an HLS or DASH manifest, an ffconcat list or an SDP description
makes it open other files and URLs, and probing picks such demuxers by content, whatever the
file was uploaded as. So the container is recognised here from its magic bytes against the
allow-list (`mediavault.mediatypes`), ffmpeg is told to use exactly that demuxer
(`-f`, `-format_whitelist`) over the local file protocol only (`-protocol_whitelist file`), and
decoders refuse pictures beyond the pixel cap (`-max_pixels`).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mediavault.mediatypes import SNIFF_BYTES, Format, describe_unknown, sniff
from processing.errors import PermanentProcessingError

DEFAULT_MAX_PIXELS = 120_000_000


@dataclass(frozen=True)
class MediaInput:
    """A local file recognised as an accepted container."""

    path: Path
    format: Format
    max_pixels: int = DEFAULT_MAX_PIXELS

    @classmethod
    def open(cls, path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> MediaInput:
        """Recognise the file, or refuse it (PermanentProcessingError) before any tool reads it."""
        with path.open("rb") as file:
            head = file.read(SNIFF_BYTES)
        found = sniff(head)
        if found is None:
            raise PermanentProcessingError(
                "not a photo, video or audio file in a format we accept "
                f"(this one is {describe_unknown(head)})"
            )
        media = cls(path, found, max_pixels)
        if "image" in found.kinds and found.decoder == "ffmpeg":
            # HEIF/AVIF headers are parsed by C libraries: that happens in the sandboxed photo
            # child (processing.photos), which checks the same cap before decoding.
            media.check_picture_header()
        return media

    @property
    def ffmpeg_readable(self) -> bool:
        """ffmpeg reads this format (HEIF and AVIF pictures go to Pillow instead)."""
        return self.format.decoder == "ffmpeg"

    @property
    def url(self) -> str:
        """The input as ffmpeg sees it: never a protocol or an option made of the path."""
        return f"file:{self.path}"

    def options(self) -> dict[str, Any]:
        """ffmpeg input options that confine reading to this file, this demuxer, this size."""
        if not self.ffmpeg_readable:
            raise ValueError(f"ffmpeg does not read {self.format.name} files here")
        return {
            "f": self.format.demuxer,
            "format_whitelist": self.format.demuxer,
            "protocol_whitelist": "file",
            "max_pixels": self.max_pixels,
        }

    def argv(self) -> list[str]:
        """The same options as command-line words, ending with `-i <input>`."""
        words: list[str] = []
        for name, value in self.options().items():
            words += [f"-{name}", str(value)]
        return [*words, "-i", self.url]

    def check_picture_header(self) -> None:
        """Refuse a picture too large to decode, from its header alone (Pillow reads no pixels)."""
        from PIL import Image

        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(self.path) as picture:
                    width, height = picture.size
        except Image.DecompressionBombError as error:
            # Beyond Pillow's own cap, which names only the pixel count.
            found = re.search(r"\((\d+) pixels\)", str(error))
            pixels = int(found.group(1)) if found else None
            raise too_many_pixels(None, self.max_pixels, pixels) from None
        except (OSError, ValueError, SyntaxError) as error:
            raise PermanentProcessingError(
                f"not a valid {self.format.name.upper()} image ({error})"
            ) from None
        if width * height > self.max_pixels:
            raise too_many_pixels((width, height), self.max_pixels)


def as_input(source: MediaInput | Path) -> MediaInput:
    """A recognised input from either a MediaInput or a path to recognise."""
    return source if isinstance(source, MediaInput) else MediaInput.open(source)


def too_many_pixels(
    size: tuple[int, int] | None, max_pixels: int, pixels: int | None = None
) -> PermanentProcessingError:
    """The refusal of a picture larger than the cap."""
    cap = f"at most {max_pixels / 1e6:g} megapixels are accepted"
    if size is not None:
        width, height = size
        return PermanentProcessingError(
            f"the picture is {width}x{height} ({width * height / 1e6:g} megapixels); {cap}"
        )
    if pixels is not None:
        return PermanentProcessingError(f"the picture has {pixels / 1e6:g} megapixels; {cap}")
    return PermanentProcessingError(f"the picture is too large to decode; {cap}")
