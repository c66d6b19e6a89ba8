"""Caps on what a file may be and the limits ffmpeg runs under, with the real ffmpeg."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from processing.errors import PermanentProcessingError
from processing.inputs import MediaInput
from processing.limits import Limits, Sandbox
from processing.probe import probe_file
from processing.runner import run_ffmpeg
from processing.scratch import remove_orphans, scratch_directory
from tests.test_processing_helpers import make_image, make_video


def test_media_beyond_the_caps_is_refused_from_its_headers(tmp_path: Path) -> None:
    clip = probe_file(make_video(tmp_path / "clip.mp4", seconds=3.0, size="320x240"))
    Limits().check(clip)  # the house caps take it
    with pytest.raises(PermanentProcessingError, match="lasts 0:00:03; at most 0:00:02"):
        Limits(max_duration_seconds=2).check(clip)
    with pytest.raises(PermanentProcessingError, match=r"320x240 \(0.0768 megapixels\)"):
        Limits(max_pixels=50_000).check(clip)
    with pytest.raises(PermanentProcessingError, match="about 75 frames; at most 50"):
        Limits(max_frames=50).check(clip)


def test_the_time_allowed_grows_with_the_work_up_to_the_cap(tmp_path: Path) -> None:
    small = probe_file(make_video(tmp_path / "small.mp4", seconds=1.0, size="320x240"))
    longer = probe_file(make_video(tmp_path / "longer.mp4", seconds=4.0, size="1920x1080"))
    limits = Limits(base_seconds=60, seconds_per_hd_second=30, timeout_cap_seconds=150)
    assert limits.timeout_for(small) == 90
    assert limits.timeout_for(longer) == 150  # 60 + 4 * 30 = 180, capped
    assert limits.sandbox_for(longer).niceness == 0  # 4 s of 1080p is not a heavy job
    assert Limits(max_pixels=10**9).cost(longer) == pytest.approx(4.0, abs=0.1)


def test_pictures_are_measured_before_anything_decodes_them(tmp_path: Path) -> None:
    image = make_image(tmp_path / "in.png", "400x300")
    with pytest.raises(PermanentProcessingError, match=r"400x300 \(0.12 megapixels\)"):
        MediaInput.open(image, max_pixels=100_000)
    assert MediaInput.open(image).format.demuxer == "png_pipe"


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"#EXTM3U\n#EXTINF:1,\n/etc/passwd\n", "an HLS playlist"),
        (b"ffconcat version 1.0\nfile /etc/passwd\n", "an ffconcat list"),
        (b"<html><script>alert(1)</script>", "HTML"),
        (b'<svg xmlns="http://www.w3.org/2000/svg"><script/></svg>', "SVG"),
        (b"v=0\no=- 0 0 IN IP4 127.0.0.1\n", "an SDP description"),
    ],
)
def test_files_outside_the_allow_list_are_named_and_refused(
    tmp_path: Path, content: bytes, found: str
) -> None:
    path = tmp_path / "upload"
    path.write_bytes(content)
    with pytest.raises(PermanentProcessingError, match=f"this one is {found}"):
        MediaInput.open(path)


def test_a_cpu_time_limit_ends_ffmpeg_for_good() -> None:
    heavy = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1280x720:duration=60",
             "-c:v", "libx265", "-preset", "medium", "-x265-params", "log-level=error",
             "-f", "null", "-"]  # fmt: skip
    with pytest.raises(PermanentProcessingError, match="more CPU time than this file is allowed"):
        run_ffmpeg(heavy, timeout=60, sandbox=Sandbox(cpu_seconds=1))


def test_a_memory_limit_ends_ffmpeg_with_a_readable_reason() -> None:
    hungry = ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=1920x1080:duration=2",
              "-c:v", "libx265", "-x265-params", "log-level=error", "-f", "null", "-"]  # fmt: skip
    with pytest.raises(PermanentProcessingError, match=r"needs more memory than the 0\.75 GiB"):
        run_ffmpeg(hungry, timeout=60, sandbox=Sandbox(memory_bytes=768 * 1024**2))


def test_scratch_directories_go_however_a_job_ends(tmp_path: Path) -> None:
    root = str(tmp_path / "scratch")
    used: list[Path] = []

    def failing_job() -> None:
        with scratch_directory(root) as path:
            used.append(path)
            (path / "original").write_bytes(b"x")
            raise RuntimeError

    with pytest.raises(RuntimeError):
        failing_job()
    assert used
    assert not used[0].exists()
    # A process killed mid-job leaves its directory; the next worker start removes it.
    orphan = Path(root) / f"job-{_dead_pid()}-abc"
    orphan.mkdir()
    live = Path(root) / f"job-{os.getpid()}-def"
    live.mkdir()
    assert remove_orphans(root) == [orphan]
    assert live.exists()


def _dead_pid() -> int:
    process = subprocess.Popen(["true"])
    process.wait()
    return process.pid
