"""Probing, classification and the check against what was announced at presign."""

from __future__ import annotations

import hashlib
from fractions import Fraction
from pathlib import Path

import pytest

from processing import (
    PermanentProcessingError,
    check_announced,
    classify,
    parse_probe,
    probe_file,
)
from tests.test_processing_helpers import ffmpeg, make_image, make_video


def test_a_video_with_sound_is_described_in_full(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", seconds=1.0)

    found = probe_file(src)

    assert found.format_name == "mov,mp4,m4a,3gp,3g2,mj2"
    assert found.is_mp4
    assert found.duration_ms is not None
    assert abs(found.duration_ms - 1000) <= 50
    assert found.size == src.stat().st_size
    assert found.bit_rate
    assert found.video is not None
    assert (found.video.codec, found.video.width, found.video.height) == ("h264", 320, 240)
    assert (found.video.frame_rate, found.video.fps) == (Fraction(25), 25.0)
    assert found.video.pix_fmt == "yuv420p"
    assert found.audio is not None
    assert (found.audio.codec, found.audio.channels, found.audio.sample_rate) == ("aac", 1, 48000)
    assert found.has_video
    assert found.has_audio
    assert not found.is_still_image
    assert classify(found, "video/mp4") == "video"
    check_announced(found, src.stat().st_size, src.stat().st_size, "video/mp4")


def test_rotation_gives_display_dimensions(tmp_path: Path) -> None:
    plain = make_video(tmp_path / "in.mp4", acodec=None)
    rotated = tmp_path / "rotated.mp4"
    ffmpeg("-i", str(plain), "-c", "copy", "-metadata:s:v:0", "rotate=90", str(rotated))

    video = probe_file(rotated).video

    assert video is not None
    assert (video.width, video.height, video.rotation) == (240, 320, 90)


def test_images_and_audio_are_told_apart(tmp_path: Path) -> None:
    image = probe_file(make_image(tmp_path / "in.png", "64x48"))
    song = tmp_path / "in.m4a"
    ffmpeg("-f", "lavfi", "-i", "sine=duration=0.5", "-c:a", "aac", str(song))
    audio = probe_file(song)

    assert image.is_still_image
    assert image.duration_ms is None
    assert classify(image, "image/png") == "image"
    assert not audio.has_video
    assert classify(audio, None) == "audio"
    check_announced(image, 1, None, "image/png")
    check_announced(audio, 1, None, "audio/mp4")


def test_random_bytes_are_a_permanent_error_with_a_readable_reason(tmp_path: Path) -> None:
    junk = tmp_path / "video.mp4"
    # Random-looking but fixed: truly random bytes now and then parse as an MP3 frame or two.
    junk.write_bytes(
        b"".join(hashlib.sha256(bytes([i % 256, i // 256])).digest() for i in range(1600))
    )
    readable = r"not a photo, video or audio file in a format we accept \(.+\)"
    with pytest.raises(PermanentProcessingError, match=readable) as caught:
        check_announced(probe_file(junk), 51_200, 51_200, "video/mp4")
    assert str(tmp_path) not in str(caught.value)  # the temp path means nothing to a user

    # MP4's signature on junk: read by the MP4 demuxer alone, which says what it found.
    junk.write_bytes(b"\x00\x00\x00\x18ftypisom" + junk.read_bytes()[12:])
    with pytest.raises(PermanentProcessingError, match=r"not a valid MP4 file \(.+\)") as caught:
        probe_file(junk)
    assert str(tmp_path) not in str(caught.value)
    assert "@ 0x" not in str(caught.value)


@pytest.mark.parametrize(
    ("announced", "reason"),
    [("video/mp4", "still image"), ("audio/mpeg", "still image")],
)
def test_an_image_announced_as_something_else_is_refused(
    tmp_path: Path, announced: str, reason: str
) -> None:
    image = probe_file(make_image(tmp_path / "in.jpg", "64x48", pix_fmt="yuvj420p"))

    with pytest.raises(PermanentProcessingError, match=f"announced as {announced}.*{reason}"):
        check_announced(image, 10, 10, announced)


def test_a_video_or_sound_announced_as_an_image_is_refused(tmp_path: Path) -> None:
    found = probe_file(make_video(tmp_path / "in.mp4"))
    mp3 = {"index": 0, "codec_type": "audio", "codec_name": "mp3"}
    only_audio = parse_probe({"format": {"format_name": "mp3"}, "streams": [mp3]})

    with pytest.raises(PermanentProcessingError, match="but the file is a video"):
        check_announced(found, 1, 1, "image/jpeg")
    with pytest.raises(PermanentProcessingError, match="audio only"):
        check_announced(only_audio, 1, 1, "video/mp4")


def test_a_size_mismatch_is_refused() -> None:
    found = parse_probe({"format": {"format_name": "mp3"}, "streams": []})

    with pytest.raises(PermanentProcessingError, match="size mismatch: 1000 bytes were announced"):
        check_announced(found, 999, 1000, "audio/mpeg")


def test_cover_art_is_not_video_and_old_rotate_tags_count() -> None:
    song = parse_probe({
        "format": {"format_name": "mp3", "duration": "3.5"},
        "streams": [
            {"index": 0, "codec_type": "audio", "codec_name": "mp3", "channels": 2},
            {"index": 1, "codec_type": "video", "codec_name": "mjpeg", "width": 500,
             "height": 500, "disposition": {"attached_pic": 1}},
        ],
    })  # fmt: skip
    clip = parse_probe({
        "format": {"format_name": "matroska,webm"},
        "streams": [{"index": 0, "codec_type": "video", "codec_name": "vp9", "width": 1920,
                     "height": 1080, "tags": {"rotate": "-90"}, "avg_frame_rate": "0/0",
                     "r_frame_rate": "30000/1001"}],
    })  # fmt: skip

    assert song.video is None
    assert (classify(song, "audio/mpeg"), song.duration_ms) == ("audio", 3500)
    assert clip.video is not None
    assert (clip.video.width, clip.video.height, clip.video.rotation) == (1080, 1920, 270)
    assert clip.video.frame_rate == Fraction(30000, 1001)
    assert classify(clip, None) == "video"
    assert classify(parse_probe({"format": {}, "streams": []}), "text/plain") == "other"
