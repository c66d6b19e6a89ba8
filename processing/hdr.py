"""HDR video: its mastering metadata for the HEVC encode, and tone-mapping to SDR for the rest.

HDR10 (PQ) sources carry how they were mastered (primaries, white point, luminance range) and
their light levels in SEI messages on the frames, which an encode does not carry over by itself:
they are read from the first frame and handed to x265. Thumbnails and the web rendition are SDR
(browsers and image viewers show them as BT.709), so HDR frames are tone-mapped (Hable) for them.
"""

from __future__ import annotations

import json
import logging
import subprocess

from processing.inputs import MediaInput
from processing.limits import Sandbox
from processing.probe import VideoStream
from processing.runner import readable_error

log = logging.getLogger(__name__)

_MASTERING = "Mastering display metadata"
_LIGHT_LEVEL = "Content light level metadata"


def to_sdr(video: VideoStream) -> list[str]:
    """Filters that map HDR (PQ/HLG) to SDR BT.709 (Hable), or 10-bit to 8-bit; may be empty."""
    if video.hdr is None:
        return []
    transfer = "smpte2084" if video.hdr == "pq" else "arib-std-b67"
    primaries = video.color_primaries or "bt2020"
    matrix = video.color_space or "bt2020nc"
    return [
        f"zscale=tin={transfer}:pin={primaries}:min={matrix}:t=linear:npl=100",
        "format=gbrpf32le", "zscale=p=bt709", "tonemap=tonemap=hable:desat=0",
        "zscale=t=bt709:m=bt709:r=tv",
    ]  # fmt: skip


def mastering_metadata(
    media: MediaInput,
    *,
    ffprobe: str = "ffprobe",
    timeout: float = 30.0,
    sandbox: Sandbox | None = None,
) -> tuple[str | None, str | None]:
    """x265's master-display and max-cll of a PQ source, from its first frame's side data."""
    limits = sandbox or Sandbox()
    cmd = limits.command([
        ffprobe, "-v", "error", "-print_format", "json",
        "-select_streams", "v:0", "-read_intervals", "%+#1", "-show_frames", *media.argv(),
    ], reads=[media.path])  # fmt: skip
    try:
        done = subprocess.run(
            cmd, capture_output=True, timeout=timeout, check=False, env=limits.env
        )
        frames = json.loads(done.stdout).get("frames") or [] if done.returncode == 0 else []
    except (OSError, subprocess.TimeoutExpired, ValueError) as error:
        log.warning("no mastering metadata: %s", error)
        return None, None
    if done.returncode != 0:
        stderr = done.stderr.decode(errors="replace")
        log.warning("no mastering metadata: %s", readable_error(stderr))
    side = [s for f in frames[:1] for s in f.get("side_data_list") or []]
    return _master_display(side), _max_cll(side)


def _ratio(value: object, unit: int) -> int | None:
    try:
        numerator, _, denominator = str(value).partition("/")
        return round(int(numerator) / int(denominator or 1) * unit)
    except (ValueError, ZeroDivisionError):
        return None


def _master_display(side: list[dict[str, object]]) -> str | None:
    found = next((s for s in side if s.get("side_data_type") == _MASTERING), None)
    if found is None:
        return None
    chroma = {key: _ratio(found.get(key), 50000) for key in (
        "green_x", "green_y", "blue_x", "blue_y", "red_x", "red_y", "white_point_x",
        "white_point_y")}  # fmt: skip
    light = {key: _ratio(found.get(key), 10000) for key in ("max_luminance", "min_luminance")}
    if None in chroma.values() or None in light.values():
        return None
    return (f"G({chroma['green_x']},{chroma['green_y']})B({chroma['blue_x']},{chroma['blue_y']})"
            f"R({chroma['red_x']},{chroma['red_y']})"
            f"WP({chroma['white_point_x']},{chroma['white_point_y']})"
            f"L({light['max_luminance']},{light['min_luminance']})")  # fmt: skip


def _max_cll(side: list[dict[str, object]]) -> str | None:
    found = next((s for s in side if s.get("side_data_type") == _LIGHT_LEVEL), None)
    if found is None:
        return None
    content, average = found.get("max_content"), found.get("max_average")
    if not isinstance(content, int) or not isinstance(average, int):
        return None
    return f"{content},{average}"
