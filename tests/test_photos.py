"""Photos through the sandboxed Pillow child: upright, sRGB, WebP/JPEG, capture facts, no GPS."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from PIL import Image

from mediavault.mediatypes import sniff
from processing.errors import PermanentProcessingError
from processing.inputs import MediaInput
from processing.limits import Limits
from processing.photos import render_photo
from tests.fidelity_media import (
    GREEN,
    P3_COLORANTS,
    RED,
    TAKEN,
    corners,
    icc_profile,
    near,
    oriented,
    p3_to_srgb,
    photo_like,
)

SANDBOX = Limits().sandbox_for(None)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_shown_upright_with_its_displayed_size(
    orientation: int, tmp_path: Path
) -> None:
    photo = oriented(tmp_path / f"o{orientation}.jpg", orientation)
    stored = Image.open(photo).size
    assert stored == ((500, 800) if orientation >= 5 else (800, 500))

    result = render_photo(MediaInput.open(photo), tmp_path / "out", sandbox=SANDBOX)

    assert (result.width, result.height) == (800, 500)
    assert result.orientation == orientation
    for name, size in (("thumb", (320, 200)), ("preview", (800, 500))):
        for ext in ("webp", "jpg"):
            picture = result.pictures[f"{name}.{ext}"]
            with Image.open(picture.path) as shown:
                assert shown.size == size == (picture.width, picture.height)
                left, right = corners(shown)
                assert near(left, RED), (name, ext, left)
                assert near(right, GREEN), (name, ext, right)


@pytest.mark.parametrize(("fmt", "suffix", "sniffed"), [("HEIF", ".heic", "heif"),
                                                         ("AVIF", ".avif", "avif")])  # fmt: skip
def test_heic_and_avif_are_read_upright_with_their_date(
    fmt: str, suffix: str, sniffed: str, tmp_path: Path
) -> None:
    photo = oriented(tmp_path / f"phone{suffix}", 6, fmt)
    media = MediaInput.open(photo)
    assert media.format.name == sniffed
    assert not media.ffmpeg_readable

    result = render_photo(media, tmp_path / "out", sandbox=SANDBOX)

    assert (result.width, result.height) == (800, 500)
    with Image.open(result.pictures["thumb.webp"].path) as thumb:
        assert thumb.format == "WEBP"
        left, right = corners(thumb)
        assert near(left, RED)
        assert near(right, GREEN)
    assert result.capture.taken_at == datetime(2024, 6, 1, 12, 3, 22, tzinfo=UTC)
    assert result.capture.offset_minutes == 120


def test_capture_facts_are_read_and_derived_pictures_carry_no_metadata(tmp_path: Path) -> None:
    result = render_photo(MediaInput.open(oriented(tmp_path / "gps.jpg", 1)), tmp_path / "out",
                          sandbox=SANDBOX)  # fmt: skip

    capture = result.capture
    assert TAKEN == "2024:06:01 14:03:22"
    assert capture.taken_at == datetime(2024, 6, 1, 12, 3, 22, tzinfo=UTC)  # 14:03 at +02:00
    assert (capture.camera_make, capture.camera_model) == ("Apple", "iPhone 15 Pro")
    assert capture.latitude == pytest.approx(48.8583, abs=1e-4)
    assert capture.longitude == pytest.approx(2.2945, abs=1e-4)
    for picture in result.pictures.values():
        data = picture.path.read_bytes()
        with Image.open(picture.path) as shown:
            assert not shown.getexif(), picture.path.name  # no EXIF at all, so no GPS
            assert "exif" not in shown.info
        assert b"Exif" not in data
        assert b"iPhone" not in data


def test_a_wide_gamut_profile_is_converted_to_srgb(tmp_path: Path) -> None:
    p3 = (200, 90, 60)
    source = tmp_path / "p3.png"
    Image.new("RGB", (400, 300), p3).save(source, icc_profile=icc_profile(P3_COLORANTS, "P3"))
    wanted = p3_to_srgb(p3)
    assert max(abs(a - b) for a, b in zip(wanted, p3, strict=True)) > 15  # a visible shift

    result = render_photo(MediaInput.open(source), tmp_path / "out", sandbox=SANDBOX)

    for name in ("thumb.webp", "preview.jpg"):
        with Image.open(result.pictures[name].path) as shown:
            assert shown.info.get("icc_profile") is None  # sRGB, the web's default
            found = shown.convert("RGB").getpixel((100, 100))
        assert isinstance(found, tuple)
        assert near(found, wanted, tolerance=6), (name, found, wanted)


def test_a_typical_12_mp_photo_makes_a_small_thumbnail(tmp_path: Path) -> None:
    photo = photo_like(tmp_path / "big.jpg")

    result = render_photo(MediaInput.open(photo), tmp_path / "out", sandbox=SANDBOX)

    thumb = result.pictures["thumb.webp"]
    assert (thumb.width, thumb.height) == (320, 240)
    assert thumb.size <= 15 * 1024
    assert result.pictures["preview.webp"].width == 1440


def test_a_heic_beyond_the_pixel_cap_is_refused_from_its_header(tmp_path: Path) -> None:
    photo = oriented(tmp_path / "wide.heic", 1, "HEIF")
    media = MediaInput.open(photo, max_pixels=100_000)  # the picture has 400,000

    with pytest.raises(PermanentProcessingError, match="megapixels"):
        render_photo(media, tmp_path / "out", sandbox=SANDBOX)
    assert not list((tmp_path / "out").glob("*"))  # nothing was decoded or written


def test_broken_heic_fails_with_a_reason(tmp_path: Path) -> None:
    photo = oriented(tmp_path / "cut.heic", 1, "HEIF")
    photo.write_bytes(photo.read_bytes()[:600])

    with pytest.raises(PermanentProcessingError, match=r"HEIF|decoded"):
        render_photo(MediaInput.open(photo), tmp_path / "out", sandbox=SANDBOX)


def test_heif_brands_are_sniffed_as_pictures_never_as_video() -> None:
    def ftyp(major: bytes, *compatible: bytes) -> bytes:
        body = major + b"\0\0\0\0" + b"".join(compatible)
        return (8 + len(body)).to_bytes(4, "big") + b"ftyp" + body + b"\0" * 64

    assert sniff(ftyp(b"heic", b"mif1", b"heic"))
    names = {
        ftyp(b"heic", b"mif1"): "heif",
        ftyp(b"mif1", b"heic", b"miaf"): "heif",
        ftyp(b"avif", b"mif1", b"miaf"): "avif",
        ftyp(b"mif1", b"avif", b"miaf"): "avif",
        ftyp(b"isom", b"iso2", b"avc1"): "mp4",
        ftyp(b"qt  "): "mp4",
    }
    for head, name in names.items():
        found = sniff(head)
        assert found is not None
        assert found.name == name, head[:24]
