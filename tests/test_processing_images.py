"""Thumbnails and previews with real ffmpeg: sizes, representative frames, no upscaling."""

from __future__ import annotations

from pathlib import Path

import pytest

from processing import PermanentProcessingError, fit_long_edge, preview, probe_file, thumbnail
from tests.test_processing_helpers import ffmpeg, ffprobe, make_image, make_video, mean_luma


def _jpeg_size(path: Path) -> tuple[int, int]:
    stream = ffprobe(path)["streams"][0]
    assert stream["codec_name"] == "mjpeg"
    return stream["width"], stream["height"]


def test_video_thumbnail_is_a_jpeg_with_long_edge_320(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", size="480x270")

    result = thumbnail(src, tmp_path / "thumb.jpg", probe_file(src))

    assert _jpeg_size(result.path) == (result.width, result.height) == (320, 180)
    assert result.size == result.path.stat().st_size


def test_a_black_leader_does_not_make_a_black_thumbnail(tmp_path: Path) -> None:
    # Mostly black: ffmpeg's `thumbnail` filter alone picks a black frame for this clip.
    src = make_video(tmp_path / "in.mp4", size="160x120", acodec=None, black_first=1.5, seconds=0.5)
    assert mean_luma(src) < 20  # the first frame really is black

    result = thumbnail(src, tmp_path / "thumb.jpg", probe_file(src))

    assert mean_luma(result.path) > 60


def test_an_all_black_video_still_gets_a_thumbnail(tmp_path: Path) -> None:
    src = tmp_path / "black.mp4"
    ffmpeg("-f", "lavfi", "-i", "color=black:size=96x64:rate=25:duration=0.5", str(src))

    result = thumbnail(src, tmp_path / "thumb.jpg", probe_file(src))

    assert _jpeg_size(result.path) == (96, 64)


def test_rotated_video_thumbnail_is_upright(tmp_path: Path) -> None:
    rotated = tmp_path / "rotated.mp4"
    plain = make_video(tmp_path / "in.mp4", size="480x270", acodec=None)
    ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated))

    result = thumbnail(rotated, tmp_path / "thumb.jpg", probe_file(rotated))

    assert _jpeg_size(result.path) == (180, 320)


def test_large_image_preview_is_1440_and_thumbnail_320(tmp_path: Path) -> None:
    src = make_image(tmp_path / "big.png", "2000x1000")
    found = probe_file(src)

    assert _jpeg_size(preview(src, tmp_path / "preview.jpg", found).path) == (1440, 720)
    assert _jpeg_size(thumbnail(src, tmp_path / "thumb.jpg", found).path) == (320, 160)


def test_small_images_are_never_upscaled(tmp_path: Path) -> None:
    src = make_image(tmp_path / "small.jpg", "300x200", pix_fmt="yuvj420p")
    found = probe_file(src)

    assert _jpeg_size(preview(src, tmp_path / "preview.jpg", found).path) == (300, 200)
    assert _jpeg_size(thumbnail(src, tmp_path / "thumb.jpg", found).path) == (300, 200)
    assert fit_long_edge(200, 3000, 1440) == (96, 1440)


def test_transparent_png_is_laid_on_white(tmp_path: Path) -> None:
    src = tmp_path / "clear.png"
    ffmpeg("-f", "lavfi", "-i", "color=black@0.0:size=64x64,format=rgba", "-frames:v", "1",
           "-update", "1", str(src))  # fmt: skip

    result = preview(src, tmp_path / "preview.jpg", probe_file(src))

    assert mean_luma(result.path) > 240


def test_a_file_without_pictures_has_no_thumbnail(tmp_path: Path) -> None:
    song = tmp_path / "in.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=0.2", str(song))

    with pytest.raises(PermanentProcessingError, match="no picture"):
        thumbnail(song, tmp_path / "thumb.jpg", probe_file(song))
