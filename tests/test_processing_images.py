"""Thumbnails and previews with real ffmpeg and Pillow: sizes, typical frames, no upscaling."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from processing import probe_file, render_photo, run_video
from processing.inputs import MediaInput
from processing.limits import Limits
from processing.video import VideoPlan
from tests.test_processing_helpers import ffmpeg, make_image, make_video, mean_luma

SANDBOX = Limits().sandbox_for(None)


def _thumbnail(src: Path, tmp_path: Path) -> Path:
    media = MediaInput.open(src)
    run = run_video(media, probe_file(media), VideoPlan(), tmp_path / "out")
    assert run.thumbnail is not None
    return run.thumbnail


def test_video_thumbnail_has_long_edge_320(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", size="480x270")

    with Image.open(_thumbnail(src, tmp_path)) as thumb:
        assert thumb.size == (320, 180)


def test_a_black_leader_does_not_make_a_black_thumbnail(tmp_path: Path) -> None:
    # Mostly black: ffmpeg's `thumbnail` filter alone picks a black frame for this clip.
    src = make_video(tmp_path / "in.mp4", size="160x120", acodec=None, black_first=1.5, seconds=0.5)
    assert mean_luma(src) < 20  # the first frame really is black

    assert mean_luma(_thumbnail(src, tmp_path)) > 60


def test_an_all_black_video_still_gets_a_thumbnail(tmp_path: Path) -> None:
    src = tmp_path / "black.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=black:size=96x64:rate=25:duration=0.5", str(src))

    with Image.open(_thumbnail(src, tmp_path)) as thumb:
        assert thumb.size == (96, 64)


def test_rotated_video_thumbnail_is_upright(tmp_path: Path) -> None:
    rotated = tmp_path / "rotated.mp4"
    plain = make_video(tmp_path / "in.mp4", size="480x270", acodec=None)
    ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated))

    with Image.open(_thumbnail(rotated, tmp_path)) as thumb:
        assert thumb.size == (180, 320)


def test_large_image_preview_is_1440_and_thumbnail_320(tmp_path: Path) -> None:
    src = make_image(tmp_path / "big.png", "2000x1000")

    result = render_photo(MediaInput.open(src), tmp_path / "out", sandbox=SANDBOX)

    assert result.pictures["preview.webp"].width == 1440
    assert result.pictures["preview.webp"].height == 720
    assert (result.pictures["thumb.jpg"].width, result.pictures["thumb.jpg"].height) == (320, 160)


def test_small_images_are_never_upscaled(tmp_path: Path) -> None:
    src = make_image(tmp_path / "small.jpg", "300x200", pix_fmt="yuvj420p")

    result = render_photo(MediaInput.open(src), tmp_path / "out", sandbox=SANDBOX)

    for picture in result.pictures.values():
        with Image.open(picture.path) as shown:
            assert shown.size == (300, 200)


def test_transparent_png_is_laid_on_white(tmp_path: Path) -> None:
    src = tmp_path / "clear.png"
    ffmpeg("-f", "lavfi", "-i", "color=black@0.0:size=64x64,format=rgba", "-frames:v", "1",
           "-update", "1", str(src))  # fmt: skip

    result = render_photo(MediaInput.open(src), tmp_path / "out", sandbox=SANDBOX)

    assert mean_luma(result.pictures["preview.jpg"].path) > 240
    assert mean_luma(result.pictures["thumb.webp"].path) > 240


def test_a_file_without_pictures_has_no_thumbnail(tmp_path: Path) -> None:
    song = tmp_path / "in.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=0.2", str(song))
    media = MediaInput.open(song)

    with pytest.raises(ValueError, match="video stream"):
        run_video(media, probe_file(media), VideoPlan(), tmp_path / "out")
