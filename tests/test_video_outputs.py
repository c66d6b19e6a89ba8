"""One ffmpeg run per video: 10-bit/HDR kept, rotation kept, web rendition, thumbnails, codecs."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from processing.capture import from_video_tags
from processing.hdr import mastering_metadata
from processing.inputs import MediaInput
from processing.probe import probe_file
from processing.transcode import TranscodeOptions, plan_for
from processing.video import (
    VideoPlan,
    WebOutput,
    plays_everywhere,
    run_video,
    video_args,
    web_output,
)
from tests.fidelity_media import displayed_frame, layout, marked_clip, pq_clip
from tests.location_media import packets
from tests.test_processing_helpers import ffmpeg, ffprobe, make_video

FAST = TranscodeOptions(preset="ultrafast")


def _video(path: Path) -> dict[str, Any]:
    return next(s for s in ffprobe(path)["streams"] if s["codec_type"] == "video")


def _first_frame_side_data(path: Path) -> list[str]:
    done = subprocess.run(
        ["ffprobe", "-v", "error", "-select_streams", "v:0", "-read_intervals", "%+#1",
         "-show_frames", "-of", "flat", str(path)],
        capture_output=True, check=True, text=True,
    )  # fmt: skip
    return [line.split("=", 1)[1].strip('"') for line in done.stdout.splitlines()
            if ".side_data_type=" in line]  # fmt: skip


def test_a_10_bit_hdr_clip_stays_main_10_with_its_hdr_metadata(tmp_path: Path) -> None:
    source = pq_clip(tmp_path / "pq.mp4")
    media = MediaInput.open(source)
    probe = probe_file(media)
    assert probe.video is not None
    assert (probe.video.bit_depth, probe.video.hdr) == (10, "pq")
    display, light = mastering_metadata(media)
    assert display == "G(13250,34500)B(7500,3000)R(34000,16000)WP(15635,16450)L(10000000,1)"
    assert light == "1000,400"
    plan = plan_for(FAST, web=WebOutput(), master_display=display, max_cll=light)

    run = run_video(media, probe, plan, tmp_path / "out")

    assert run.hevc is not None
    assert run.web is not None
    assert run.thumbnail is not None
    hevc = _video(run.hevc)
    assert (hevc["codec_name"], hevc["profile"], hevc["pix_fmt"]) == ("hevc", "Main 10",
                                                                      "yuv420p10le")  # fmt: skip
    assert (hevc["color_transfer"], hevc["color_primaries"], hevc["color_space"]) == (
        "smpte2084", "bt2020", "bt2020nc")  # fmt: skip
    side = _first_frame_side_data(run.hevc)
    assert "Mastering display metadata" in side
    assert "Content light level metadata" in side
    # Main 10: profile 2, compatibility flag 2 (bit-reversed: 4); AAC LC.
    assert re.fullmatch(
        r"hvc1\.2\.4\.L\d+(\.[0-9A-F]+)*, mp4a\.40\.2", probe_file(run.hevc).codecs or ""
    )
    web = _video(run.web)
    assert (web["codec_name"], web["profile"], web["pix_fmt"]) == ("h264", "High", "yuv420p")
    assert web["color_transfer"] == "bt709"
    assert (probe_file(run.web).codecs or "").startswith("avc1.64")


def _luma(picture: Image.Image, point: tuple[int, int]) -> float:
    value = picture.getpixel(point)
    assert isinstance(value, int | float)
    return float(value)


def test_an_hdr_thumbnail_is_tone_mapped_not_washed_out(tmp_path: Path) -> None:
    source = pq_clip(tmp_path / "pq.mp4")  # right half: a white at about 200 nits
    naive = displayed_frame(source, tmp_path / "naive.png").convert("L")
    media = MediaInput.open(source)

    run = run_video(media, probe_file(media), VideoPlan(), tmp_path / "out")

    assert run.thumbnail is not None
    with Image.open(run.thumbnail) as thumb:
        grey = thumb.convert("L")
        white, black = _luma(grey, (240, 90)), _luma(grey, (40, 90))
    shown_naively = _luma(naive, (240, 90))
    assert shown_naively < 160  # PQ read as SDR: a dull grey
    assert white > shown_naively + 25  # tone-mapped: a bright white
    assert black < 20


def test_a_rotated_phone_clip_keeps_its_rotation_and_plays_upright(tmp_path: Path) -> None:
    source = marked_clip(tmp_path / "phone.mp4", rotate=90,
                         tags=("location=+48.8583+002.2945/", "creation_time=2021-07-04T12:00:00Z",
                               "make=Google", "model=Pixel 8"))  # fmt: skip
    shown = displayed_frame(source, tmp_path / "shown.png")
    assert shown.size == (192, 320)  # portrait as displayed, landscape as stored
    upright = layout(shown)  # as ffmpeg (like every player) shows the original
    assert sorted(upright) == ["green", "red", "white", "white"]
    media = MediaInput.open(source)
    probe = probe_file(media)
    assert probe.video is not None
    assert probe.video.rotation == 90

    run = run_video(media, probe, plan_for(FAST, web=WebOutput()), tmp_path / "out")

    assert run.hevc is not None
    assert run.web is not None
    assert run.thumbnail is not None
    for output in (run.hevc, run.web):
        assert probe_file(output).video.rotation == 90  # type: ignore[union-attr]
        frame = displayed_frame(output, tmp_path / f"{output.stem}.png")
        assert frame.size == (192, 320)
        assert layout(frame) == upright, output.name
        tags = ffprobe(output)["format"].get("tags", {})
        assert not any("location" in key for key in tags), tags  # no place in derived files
        assert "Pixel" not in str(tags)
    with Image.open(run.thumbnail) as thumb:
        assert thumb.size == (192, 320)
        assert layout(thumb) == upright
    capture = from_video_tags(probe.tags)
    assert capture.taken_at is not None
    assert capture.taken_at.isoformat() == "2021-07-04T12:00:00+00:00"
    assert (capture.latitude, capture.longitude) == (48.8583, 2.2945)


def test_the_thumbnail_rides_on_the_encode_in_one_run(tmp_path: Path) -> None:
    source = make_video(tmp_path / "in.mp4", size="480x270")
    media = MediaInput.open(source)
    probe = probe_file(media)

    args = video_args(media, probe, plan_for(FAST, web=WebOutput()), tmp_path)

    assert args.count("-i") == 1  # one input, decoded once
    graph = args[args.index("-filter_complex") + 1]
    assert graph.startswith("[0:0]split=3")
    assert sum(word.startswith("file:") for word in args) == 1 + 4  # input, hevc, web, 2 thumbs


def test_a_copied_web_rendition_has_the_originals_streams_and_none_of_its_tags(
    tmp_path: Path,
) -> None:
    source = marked_clip(tmp_path / "phone.mp4", tags=("location=+48.8583+002.2945/",
                                                       "make=Google", "title=Trip"))  # fmt: skip
    media = MediaInput.open(source)
    probe = probe_file(media)
    for plan in (plan_for(FAST, web=WebOutput(copy=True)), VideoPlan(web=WebOutput(copy=True))):
        out = tmp_path / ("hevc" if plan.hevc else "bare")
        run = run_video(media, probe, plan, out)

        assert run.web is not None
        assert run.thumbnail is not None
        assert (run.hevc is not None) is (plan.hevc is not None)
        assert packets(run.web, "v") == packets(source, "v")  # the same H.264, bit for bit
        assert packets(run.web, "a") == packets(source, "a")  # and the same AAC
        tags = ffprobe(run.web)["format"].get("tags", {})
        assert not any("location" in key for key in tags), tags
        assert "Google" not in str(tags)
        assert "Trip" not in str(tags)


def test_which_originals_get_a_web_rendition(tmp_path: Path) -> None:
    h264 = probe_file(make_video(tmp_path / "h264.mp4"))
    hevc_path = tmp_path / "hevc.mp4"
    ffmpeg("-i", str(make_video(tmp_path / "x.mp4", vcodec="libx265")), "-c", "copy",
           "-tag:v", "hvc1", str(hevc_path))  # fmt: skip
    hevc = probe_file(hevc_path)
    webm = probe_file(make_video(tmp_path / "v.webm", vcodec="libvpx-vp9", acodec="libopus"))

    assert plays_everywhere(h264, "video/mp4")
    assert not plays_everywhere(h264, "video/quicktime")  # Chrome and Firefox skip that type
    # Share links without downloads never play the original: every video gets a web rendition,
    # its streams copied when the original plays everywhere (nothing encoded).
    assert web_output("auto", h264, "video/mp4") == WebOutput(copy=True)
    assert web_output("auto", h264, "video/quicktime") == WebOutput()
    assert web_output("always", h264, "video/mp4") == WebOutput()
    assert web_output("auto", hevc, "video/mp4") == WebOutput()  # no HEVC in Firefox, Chromium
    assert web_output("never", hevc, "video/mp4") is None
    assert web_output("auto", webm, "video/webm") == WebOutput()  # Safari
    assert h264.codecs == "avc1.42C00D, mp4a.40.2"  # ultrafast: Constrained Baseline, level 1.3
    assert (hevc.codecs or "").startswith("hvc1.1.6.L")
    assert webm.codecs == "vp9, opus"
    with pytest.raises(ValueError, match="web rendition"):
        web_output("sometimes", h264, "video/mp4")  # type: ignore[arg-type]
