"""Media that names where it was made, made at test time, and ways to read places and payloads."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from tests.test_processing_helpers import ffmpeg

PARIS = "+48.8577+002.2950/"


def exiftool(path: Path) -> dict[str, Any]:
    """Every tag exiftool reads in the file, by group:name (numbers as numbers)."""
    done = subprocess.run(
        ["exiftool", "-config", "", "-j", "-G1", "-n", "-a", "-u", "-e", str(path)],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    tags: dict[str, Any] = json.loads(done.stdout)[0]
    return tags


def place_tags(path: Path) -> dict[str, Any]:
    """The tags of the file that say where it was made (any GPS, city or location tag)."""
    return {
        name: value
        for name, value in exiftool(path).items()
        if any(word in name.lower() for word in ("gps", "city", "location", "country"))
    }


def located_photo(path: Path) -> Path:
    """A JPEG from lavfi with a camera's make and model, EXIF GPS, XMP GPS and IPTC/XMP city."""
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=640x480", "-frames:v", "1", "-q:v", "3",
           "-update", "1", str(path))  # fmt: skip
    subprocess.run(
        ["exiftool", "-config", "", "-q", "-overwrite_original", "-Make=Canon",
         "-Model=EOS R5", "-DateTimeOriginal=2024:06:01 14:03:22", "-GPSLatitude=48.8577",
         "-GPSLatitudeRef=N", "-GPSLongitude=2.2950", "-GPSLongitudeRef=E",
         "-XMP-exif:GPSLatitude=48.8577 N", "-XMP-exif:GPSLongitude=2.2950 E",
         "-XMP-photoshop:City=Paris", "-IPTC:City=Paris", "-IPTC:Sub-location=Champ de Mars",
         str(path)],
        check=True, timeout=60,
    )  # fmt: skip
    return path


def located_clip(path: Path) -> Path:
    """An H.264/AAC MP4 with a title and the place in every key phones and ffmpeg write."""
    ffmpeg(
        "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25:duration=2",
        "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=2",
        "-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac",
        "-metadata", f"location={PARIS}", "-metadata", "title=Trip",
        "-metadata", f"com.apple.quicktime.location.ISO6709={PARIS}",
        "-metadata", "com.apple.quicktime.make=Apple",
        "-movflags", "use_metadata_tags+faststart", str(path),
    )  # fmt: skip
    return path


def container_tags(path: Path) -> dict[str, str]:
    """ffprobe's format tags."""
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-print_format", "json", "-show_format", str(path)],
        capture_output=True, check=True, timeout=60,
    )  # fmt: skip
    tags: dict[str, str] = json.loads(done.stdout)["format"].get("tags", {})
    return tags


def decoded_frames(path: Path) -> list[str]:
    """The MD5 of each decoded frame (a picture's pixels, as its decoder gives them)."""
    return _framemd5("-i", str(path))


def packets(path: Path, streams: str = "") -> list[str]:
    """The MD5 of every packet of the streams (all, or `v`, `a`), read without decoding."""
    return _framemd5("-i", str(path), "-map", f"0:{streams}" if streams else "0", "-c", "copy")


def _framemd5(*args: str) -> list[str]:
    done = subprocess.run(
        ["ffmpeg", "-nostdin", "-v", "error", *args, "-f", "framemd5", "-"],
        capture_output=True, check=True, timeout=120,
    )  # fmt: skip
    lines = done.stdout.decode().splitlines()
    return [line for line in lines if line and not line.startswith("#")]
