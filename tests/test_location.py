"""The copies without a place that share links hand out, for each container (issue 20)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from processing.inputs import MediaInput
from processing.limits import Limits
from processing.location import Tools, shared_original
from processing.probe import probe_file
from tests.fidelity_media import oriented
from tests.location_media import (
    PARIS,
    container_tags,
    decoded_frames,
    exiftool,
    located_clip,
    located_photo,
    packets,
    place_tags,
)
from tests.test_processing_helpers import ffmpeg, make_video

TOOLS = Tools(timeout=120.0, sandbox=Limits().sandbox_for(None))
GPS = ["-GPSLatitude=48.8577", "-GPSLatitudeRef=N", "-GPSLongitude=2.295", "-GPSLongitudeRef=E",
       "-XMP-photoshop:City=Paris", "-Artist=Ada"]  # fmt: skip


def _tag(path: Path, *tags: str) -> Path:
    subprocess.run(["exiftool", "-config", "", "-q", "-overwrite_original", *tags, str(path)],
                   check=True, timeout=60)  # fmt: skip
    return path


def _share(path: Path, served_type: str = "") -> tuple[MediaInput, Path | None, bool]:
    media = MediaInput.open(path)
    probe = probe_file(media) if media.ffmpeg_readable else None
    found = shared_original(media, probe, path.parent / f"{path.name}-out",
                            served_type=served_type, tools=TOOLS)  # fmt: skip
    return media, found.copy, found.checked


@pytest.mark.parametrize("suffix", ["png", "webp", "tiff"])
def test_pictures_lose_their_place_and_keep_their_pixels(tmp_path: Path, suffix: str) -> None:
    picture = tmp_path / f"picture.{suffix}"
    ffmpeg("-f", "lavfi", "-i", "testsrc2=size=320x240", "-frames:v", "1", "-update", "1",
           *(["-lossless", "1"] if suffix == "webp" else []), str(picture))  # fmt: skip
    _tag(picture, *GPS)
    assert place_tags(picture)

    _, copy, checked = _share(picture)

    assert checked
    assert copy is not None
    assert place_tags(copy) == {}
    assert next(v for k, v in exiftool(copy).items() if k.endswith(":Artist")) == "Ada"
    assert decoded_frames(copy) == decoded_frames(picture)


def test_a_heic_photo_loses_its_place_and_keeps_its_pixels(tmp_path: Path) -> None:
    import pillow_heif
    from PIL import Image

    photo = oriented(tmp_path / "IMG_0001.heic", 6, "HEIF")
    assert place_tags(photo)

    _, copy, checked = _share(photo)

    assert checked
    assert copy is not None
    assert place_tags(copy) == {}
    assert exiftool(copy)["IFD0:Model"] == "iPhone 15 Pro"
    pillow_heif.register_heif_opener()
    with Image.open(photo) as before, Image.open(copy) as after:
        assert after.tobytes() == before.tobytes()


def test_originals_that_name_no_place_are_handed_out_as_they_are(tmp_path: Path) -> None:
    photo = oriented(tmp_path / "plain.jpg", 1, gps=False)
    clip = make_video(tmp_path / "plain.mp4")
    for path in (photo, clip):
        _, copy, checked = _share(path)
        assert (copy, checked) == (None, True), path.name
    # Unless another reader found a place there (its capture facts): then it is not handed out.
    found = shared_original(MediaInput.open(photo), None, tmp_path / "out", served_type="",
                            tools=TOOLS, known_place=True)  # fmt: skip
    assert (found.copy, found.checked) == (None, False)


def test_a_matroska_video_is_remuxed_without_its_place(tmp_path: Path) -> None:
    clip = tmp_path / "clip.mkv"
    ffmpeg("-i", str(located_clip(tmp_path / "clip.mp4")), "-c", "copy", "-metadata",
           f"location={PARIS}", "-metadata", "title=Trip", str(clip))  # fmt: skip
    assert "LOCATION" in {key.upper() for key in container_tags(clip)}

    _, copy, checked = _share(clip, "video/x-matroska")

    assert checked
    assert copy is not None
    tags = {key.upper(): value for key, value in container_tags(copy).items()}
    assert "LOCATION" not in tags
    assert tags["TITLE"] == "Trip"
    assert packets(copy) == packets(clip)


def test_a_photo_whose_metadata_cannot_be_read_is_not_handed_out(tmp_path: Path) -> None:
    photo = located_photo(tmp_path / "broken.jpg")
    data = bytearray(photo.read_bytes())
    start = data.index(b"Exif\x00\x00") + 6
    data[start : start + 8] = b"\xff" * 8  # the TIFF header of the EXIF block, unreadable
    photo.write_bytes(bytes(data))

    _, copy, checked = _share(photo)

    # Whether it names a place cannot be told for sure: links without places never hand it out.
    assert (copy, checked) == (None, False)
