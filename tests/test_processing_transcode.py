"""HEVC transcodes with real ffmpeg: tagging, faststart, duration, audio copy, scaling, policy."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from processing import (
    PermanentProcessingError,
    TranscodeAction,
    TranscodeOptions,
    needs_transcode,
    probe_file,
    transcode_action,
    transcode_args,
)
from processing.transcode import transcode
from tests.test_processing_helpers import (
    ffmpeg,
    ffprobe,
    make_image,
    make_video,
    stream_hash,
    top_level_boxes,
)

FAST = TranscodeOptions(preset="ultrafast")


def test_h264_with_aac_becomes_tagged_faststart_hevc_with_the_audio_copied(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", seconds=2.0)
    dst = tmp_path / "out.mp4"
    source = probe_file(src)
    progress: list[float] = []

    result = transcode(src, dst, source, FAST, on_progress=progress.append)

    report = ffprobe(dst)
    video = next(s for s in report["streams"] if s["codec_type"] == "video")
    audio = next(s for s in report["streams"] if s["codec_type"] == "audio")
    assert (video["codec_name"], video["codec_tag_string"]) == ("hevc", "hvc1")
    assert video["pix_fmt"] == "yuv420p"
    assert (video["width"], video["height"], video["avg_frame_rate"]) == (320, 240, "25/1")
    boxes = top_level_boxes(dst)
    assert boxes.index("moov") < boxes.index("mdat")
    assert source.duration_ms is not None
    assert abs(float(report["format"]["duration"]) * 1000 - source.duration_ms) <= 100
    assert audio["codec_name"] == "aac"
    assert stream_hash(dst, "a:0") == stream_hash(src, "a:0")  # the very same packets
    assert progress, "no progress was reported"
    assert progress == sorted(progress)
    assert progress[-1] == pytest.approx(1.0)
    assert result.encoder == "libx265"
    assert result.audio_copied
    assert not result.video_copied
    assert result.output_size == dst.stat().st_size
    assert result.frames == 50
    assert result.encode_fps is not None
    assert result.encode_fps > 0
    assert not list(tmp_path.glob(".*.part")), "the partial file was left behind"


def test_max_height_scales_down_keeping_aspect_with_even_dimensions(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", size="320x180", acodec="libopus")
    dst = tmp_path / "out.mp4"

    result = transcode(
        src, dst, probe_file(src), TranscodeOptions(preset="ultrafast", max_height=91)
    )

    video, audio = (next(s for s in ffprobe(dst)["streams"] if s["codec_type"] == kind)
                    for kind in ("video", "audio"))  # fmt: skip
    assert (video["width"], video["height"]) == (result.width, result.height) == (162, 90)
    assert audio["codec_name"] == "aac"  # opus is not playable from MP4 everywhere
    assert not result.audio_copied


def test_an_hevc_mp4_under_policy_required_is_left_alone(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", vcodec="libx265")
    ffmpeg("-i", str(src), "-c", "copy", "-tag:v", "hvc1", str(tmp_path / "hvc1.mp4"))
    hevc = probe_file(tmp_path / "hvc1.mp4")

    assert transcode_action(hevc, "required") is TranscodeAction.SKIP
    assert not needs_transcode(hevc, "required")
    assert needs_transcode(hevc, "all")
    assert not needs_transcode(hevc, "disabled")
    assert needs_transcode(hevc, "required", max_height=120)  # taller than allowed


def test_hevc_in_another_container_is_remuxed_not_reencoded(tmp_path: Path) -> None:
    src = tmp_path / "in.mkv"
    ffmpeg("-i", str(make_video(tmp_path / "in.mp4", vcodec="libx265")), "-c", "copy", str(src))
    source = probe_file(src)
    assert transcode_action(source, "required") is TranscodeAction.REMUX
    dst = tmp_path / "out.mp4"

    result = transcode(src, dst, source, TranscodeOptions(copy_video=True))

    video = ffprobe(dst)["streams"][0]
    assert (video["codec_name"], video["codec_tag_string"]) == ("hevc", "hvc1")
    assert stream_hash(dst, "v:0") == stream_hash(src, "v:0")
    assert result.encoder == "copy"
    assert top_level_boxes(dst).index("moov") < top_level_boxes(dst).index("mdat")


def test_policy_for_h264_and_for_images(tmp_path: Path) -> None:
    h264 = probe_file(make_video(tmp_path / "in.mp4", acodec=None))
    image = probe_file(make_image(tmp_path / "in.png", "64x64"))

    assert transcode_action(h264, "required") is TranscodeAction.ENCODE
    assert transcode_action(h264, "disabled") is TranscodeAction.SKIP
    assert transcode_action(image, "all") is TranscodeAction.SKIP
    with pytest.raises(ValueError, match="policy"):
        transcode_action(h264, "sometimes")  # type: ignore[arg-type]


def test_transcode_args_are_the_house_settings_for_each_encoder(tmp_path: Path) -> None:
    src = make_video(tmp_path / "in.mp4", acodec="libopus")
    source = probe_file(src)

    cpu = transcode_args(src, Path("out.mp4"), source)
    nvenc_options = TranscodeOptions(encoder="hevc_nvenc", crf=30)
    gpu = transcode_args(src, Path("out.mp4"), source, nvenc_options, ffmpeg_bin="/opt/ff")

    def pairs(args: list[str]) -> set[tuple[str, str]]:
        return set(itertools.pairwise(args))

    common = {("-tag:v", "hvc1"), ("-movflags", "+faststart"), ("-pix_fmt", "yuv420p"),
              ("-c:a", "aac"), ("-f", "mp4")}  # fmt: skip
    assert common | {("-c:v", "libx265"), ("-crf", "28"), ("-preset", "medium")} <= pairs(cpu)
    nvenc = {("-c:v", "hevc_nvenc"), ("-rc", "vbr"), ("-cq", "30"), ("-preset", "p5")}
    assert common | nvenc <= pairs(gpu)
    assert cpu[0] == "ffmpeg"
    assert gpu[0] == "/opt/ff"
    assert "-filter_complex" not in cpu  # no scaling asked: no filter in the way
    # The input is read by the MP4 demuxer over the file protocol and nothing else.
    confined = {("-f", "mov"), ("-format_whitelist", "mov"), ("-protocol_whitelist", "file")}
    assert confined <= pairs(cpu)
    assert cpu[cpu.index("-i") + 1] == f"file:{src}"


def test_a_truncated_upload_fails_permanently_and_leaves_no_output(tmp_path: Path) -> None:
    whole = tmp_path / "whole.mp4"
    ffmpeg("-i", str(make_video(tmp_path / "in.mp4", seconds=2.0)), "-c", "copy",
           "-movflags", "+faststart", str(whole))  # fmt: skip
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 3])
    source = probe_file(cut)  # the index is intact: it still claims two seconds
    dst = tmp_path / "out.mp4"

    with pytest.raises(PermanentProcessingError, match="damaged or truncated"):
        transcode(cut, dst, source, FAST)

    assert not dst.exists()
    assert not list(tmp_path.glob(".*.part"))
