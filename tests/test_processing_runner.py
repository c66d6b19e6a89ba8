"""Running ffmpeg: time limits that kill the whole group, heartbeats, failure kinds."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from mediavault.devstack.services import wait_until
from processing import (
    PermanentProcessingError,
    ProcessingTimeout,
    TransientProcessingError,
    run_ffmpeg,
    select_encoder,
)


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting for a reaper."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _fake_ffmpeg(tmp_path: Path, body: str, name: str = "ffmpeg") -> str:
    script = tmp_path / name
    script.write_text(f"#!/bin/sh\n{body}\n")
    script.chmod(0o755)
    return str(script)


def test_timeout_kills_a_real_ffmpeg_and_heartbeats_keep_coming(tmp_path: Path) -> None:
    beats: list[None] = []
    # -re paces an endless source at real time: ffmpeg runs forever, cheaply.
    args = ["ffmpeg", "-re", "-f", "lavfi", "-i", "testsrc=size=64x64:rate=10", "-f", "null", "-"]

    with pytest.raises(ProcessingTimeout, match=r"did not finish within 1\.2 s") as caught:
        run_ffmpeg(args, timeout=1.2, on_heartbeat=lambda: beats.append(None),
                   heartbeat_interval=0.2)  # fmt: skip

    assert isinstance(caught.value, TransientProcessingError)
    assert not _alive(caught.value.pid)
    assert len(beats) >= 4


def test_timeout_reaches_children_and_silence_still_beats(tmp_path: Path) -> None:
    child_pid = tmp_path / "child.pid"
    fake = _fake_ffmpeg(tmp_path, f"sleep 60 & echo $! > {child_pid}; wait")
    beats: list[None] = []

    with pytest.raises(ProcessingTimeout):
        run_ffmpeg([fake], timeout=0.8, on_heartbeat=lambda: beats.append(None),
                   heartbeat_interval=0.1)  # fmt: skip

    # The grandchild is not ours to wait for: it dies when the kernel gets to it.
    pid = int(child_pid.read_text())
    wait_until(lambda: not _alive(pid), 5, f"orphaned child {pid} to die")
    assert len(beats) >= 4


def test_an_exception_from_the_heartbeat_stops_ffmpeg(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    fake = _fake_ffmpeg(tmp_path, f"echo $$ > {pid_file}; exec sleep 60")

    def lost() -> None:
        raise RuntimeError("the message is gone")

    with pytest.raises(RuntimeError, match="message is gone"):
        run_ffmpeg([fake], timeout=30, on_heartbeat=lost, heartbeat_interval=0.1)

    assert not _alive(int(pid_file.read_text()))


def test_failures_are_sorted_into_permanent_and_transient(tmp_path: Path) -> None:
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(4096))
    disk_full = _fake_ffmpeg(tmp_path, "echo 'out.mp4: No space left on device' >&2; exit 1")

    with pytest.raises(PermanentProcessingError, match="Invalid data found"):
        run_ffmpeg(["ffmpeg", "-v", "error", "-i", f"file:{junk}", "-f", "null", "-"], timeout=30)
    with pytest.raises(TransientProcessingError, match="No space left on device"):
        run_ffmpeg([disk_full], timeout=30)
    killed = _fake_ffmpeg(tmp_path, "kill -9 $$", name="killed")
    with pytest.raises(TransientProcessingError, match="killed by signal 9"):
        run_ffmpeg([killed], timeout=30)
    with pytest.raises(TransientProcessingError, match="cannot run"):
        run_ffmpeg([str(tmp_path / "missing")], timeout=30)


def test_auto_encoder_falls_back_to_libx265_loudly_without_a_gpu(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="processing.encoders"):
        choice = select_encoder("auto")

    assert choice.encoder == "libx265"
    assert choice.requested == "auto"
    assert choice.fallback_reason
    assert choice.fell_back
    assert any("falling back to libx265" in r.getMessage() for r in caplog.records)


def test_explicit_encoders_are_taken_as_given_and_nonsense_is_refused(tmp_path: Path) -> None:
    assert select_encoder("libx265").fallback_reason is None
    assert select_encoder("hevc_nvenc").encoder == "hevc_nvenc"
    missing = select_encoder("auto", ffmpeg_bin=str(tmp_path / "no-ffmpeg"))
    assert missing.encoder == "libx265"
    assert "cannot run" in (missing.fallback_reason or "")
    with pytest.raises(ValueError, match="encoder setting"):
        select_encoder("gpu")  # type: ignore[arg-type]
