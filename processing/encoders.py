"""Choose the HEVC encoder: NVENC when a test encode proves it works, else libx265, loudly."""

from __future__ import annotations

import logging
import subprocess
from dataclasses import dataclass
from typing import Literal

from processing.runner import readable_error
from processing.transcode import Encoder

log = logging.getLogger(__name__)

EncoderSetting = Literal["auto", "libx265", "hevc_nvenc"]
_SETTINGS: tuple[EncoderSetting, ...] = ("auto", "libx265", "hevc_nvenc")


@dataclass(frozen=True)
class EncoderChoice:
    """The encoder to use, what was asked for, and why it differs when it does."""

    encoder: Encoder
    requested: EncoderSetting
    fallback_reason: str | None = None

    @property
    def fell_back(self) -> bool:
        """`auto` wanted NVENC and could not have it."""
        return self.fallback_reason is not None


def select_encoder(
    setting: EncoderSetting, *, ffmpeg_bin: str = "ffmpeg", timeout: float = 20.0
) -> EncoderChoice:
    """Resolve TRANSCODE_ENCODER once at start-up; `auto` test-encodes with hevc_nvenc."""
    if setting not in _SETTINGS:
        raise ValueError(f"encoder setting must be one of {', '.join(_SETTINGS)}, not {setting!r}")
    if setting != "auto":
        return EncoderChoice(encoder=setting, requested=setting)
    problem = nvenc_problem(ffmpeg_bin=ffmpeg_bin, timeout=timeout)
    if problem is None:
        log.info("hevc_nvenc test encode succeeded: encoding on the GPU")
        return EncoderChoice(encoder="hevc_nvenc", requested="auto")
    log.warning("hevc_nvenc is not usable (%s): falling back to libx265 on the CPU", problem)
    return EncoderChoice(encoder="libx265", requested="auto", fallback_reason=problem)


def nvenc_problem(*, ffmpeg_bin: str = "ffmpeg", timeout: float = 20.0) -> str | None:
    """Why a 0.2 s hevc_nvenc test encode fails here, or None when it works."""
    # 256x256: above NVENC's minimum frame size, small enough to cost nothing.
    cmd = [
        ffmpeg_bin, "-nostdin", "-hide_banner", "-v", "error",
        "-f", "lavfi", "-i", "testsrc=size=256x256:rate=25:duration=0.2",
        "-c:v", "hevc_nvenc", "-f", "null", "-",
    ]  # fmt: skip
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return f"the test encode took longer than {timeout:g} s"
    except OSError as exc:
        return f"cannot run {ffmpeg_bin}: {exc}"
    if done.returncode == 0:
        return None
    detail = readable_error(done.stderr.decode("utf-8", "replace"))
    detail = detail or f"exit status {done.returncode}"
    return f"test encode failed: {detail}"
