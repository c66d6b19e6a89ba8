"""Photos: thumbnails and previews, upright and in sRGB, as WebP and JPEG, with capture metadata.

Pillow decodes, in a child process (`processing.photo_child`) started under the job's Sandbox,
so that the worker itself never decodes a hostile picture: the child's address space and CPU
time are bounded, it is confined like ffmpeg (`processing.confinement`), and the pixel cap is
checked from the header before it decodes anything. Only the format the bytes were sniffed as
may open the file.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from processing.capture import Capture
from processing.confinement import setup_failure
from processing.errors import PermanentProcessingError, ProcessingTimeout, TransientProcessingError
from processing.inputs import MediaInput, too_many_pixels
from processing.limits import Sandbox
from processing.runner import HeartbeatCallback

log = logging.getLogger(__name__)

THUMBNAIL_LONG_EDGE = 320
PREVIEW_LONG_EDGE = 1440
PHOTO_TYPES = {".webp": "image/webp", ".jpg": "image/jpeg"}
_EXIT_TOO_LARGE = 3
_STDERR_LIMIT = 2000


@dataclass(frozen=True)
class Picture:
    """One written derived picture."""

    path: Path
    width: int
    height: int
    size: int

    @property
    def content_type(self) -> str:
        """image/webp or image/jpeg, from the name."""
        return PHOTO_TYPES[self.path.suffix]


@dataclass(frozen=True)
class PhotoResult:
    """What one photo gave: its displayed size, its pictures and its capture facts."""

    width: int  # as displayed (EXIF orientation applied)
    height: int
    stored_width: int
    stored_height: int
    orientation: int
    frames: int
    pictures: dict[str, Picture]  # thumb.webp, thumb.jpg, preview.webp, preview.jpg
    capture: Capture
    seconds: float


def render_photo(
    media: MediaInput,
    out_dir: Path,
    *,
    preview: bool = True,
    thumb_edge: int = THUMBNAIL_LONG_EDGE,
    preview_edge: int = PREVIEW_LONG_EDGE,
    sandbox: Sandbox | None = None,
    timeout: float = 120.0,
    on_heartbeat: HeartbeatCallback | None = None,
    heartbeat_interval: float = 5.0,
    python: str = sys.executable,
) -> PhotoResult:
    """Decode the photo in a sandboxed child; its pictures land in `out_dir`."""
    if "image" not in media.format.kinds:
        raise ValueError(f"{media.format.name} files are not photos")
    out_dir.mkdir(parents=True, exist_ok=True)
    limits = sandbox or Sandbox()
    argv = limits.command([
        python, "-I", "-m", "processing.photo_child", "--format", media.format.name,
        "--out", str(out_dir), "--max-pixels", str(media.max_pixels),
        "--thumb", str(thumb_edge), *(["--preview", str(preview_edge)] if preview else []),
        str(media.path),
    ], reads=[media.path], writes=[out_dir])  # fmt: skip
    started = time.monotonic()
    try:
        done = _run(argv, timeout, on_heartbeat, heartbeat_interval, limits)
    finally:
        limits.reclaim([out_dir])
    seconds = time.monotonic() - started
    stderr = done.stderr.decode("utf-8", "replace").strip()[-_STDERR_LIMIT:]
    if done.returncode == _EXIT_TOO_LARGE:
        width, _, height = stderr.rpartition("\n")[2].partition("x")
        size = (int(width), int(height)) if width.isdigit() and height.isdigit() else None
        raise too_many_pixels(size, media.max_pixels)
    if done.returncode != 0:
        raise setup_failure(done.returncode, stderr) or _failure(done.returncode, stderr, sandbox)
    try:
        report: dict[str, Any] = json.loads(done.stdout)
        return _result(report, out_dir, seconds)
    except (ValueError, KeyError, TypeError) as error:
        raise PermanentProcessingError("the image could not be decoded (no report)") from error


def _run(
    argv: list[str],
    timeout: float,
    on_heartbeat: HeartbeatCallback | None,
    interval: float,
    sandbox: Sandbox,
) -> subprocess.CompletedProcess[bytes]:
    """Run the child, beating the heart while it works; kill it at the deadline."""
    deadline = time.monotonic() + timeout
    proc = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env=sandbox.env, start_new_session=True,
    )  # fmt: skip
    try:
        while True:
            try:
                out, err = proc.communicate(
                    timeout=max(0.01, min(interval, deadline - time.monotonic()))
                )
                return subprocess.CompletedProcess(argv, proc.returncode, out, err)
            except subprocess.TimeoutExpired:
                if time.monotonic() >= deadline:
                    raise ProcessingTimeout(
                        f"the photo conversion did not finish within {timeout:g} s and was "
                        "stopped", pid=proc.pid, timeout=timeout,
                    ) from None  # fmt: skip
                if on_heartbeat is not None:
                    on_heartbeat()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _failure(returncode: int, stderr: str, sandbox: Sandbox | None) -> Exception:
    last = stderr.splitlines()[-1] if stderr else ""
    if returncode in (4,) and last:
        return PermanentProcessingError(last)
    if returncode == 5 or "MemoryError" in stderr or "cannot allocate" in stderr.lower():
        if sandbox is not None and sandbox.memory_bytes is not None:
            return PermanentProcessingError(
                "the photo conversion needs more memory than the "
                f"{sandbox.memory_bytes / 1024**3:g} GiB allowed"
            )
        return TransientProcessingError("the photo conversion ran out of memory")
    if returncode in (-24, 152):  # SIGXCPU: past its CPU time
        return PermanentProcessingError("the photo conversion used more CPU time than allowed")
    if returncode < 0:
        return TransientProcessingError(f"the photo conversion was killed by signal {-returncode}")
    log.warning("photo child failed (%d): %s", returncode, stderr)
    return PermanentProcessingError("the image could not be decoded")


def _result(report: dict[str, Any], out_dir: Path, seconds: float) -> PhotoResult:
    pictures = {}
    for name, facts in dict(report["outputs"]).items():
        path = out_dir / Path(str(name)).name
        if path.suffix not in PHOTO_TYPES or not path.is_file():
            raise ValueError(f"unexpected output {name!r}")
        pictures[path.name] = Picture(
            path, int(facts["width"]), int(facts["height"]), path.stat().st_size
        )
    stored = report["stored"]
    return PhotoResult(
        width=int(report["width"]),
        height=int(report["height"]),
        stored_width=int(stored[0]),
        stored_height=int(stored[1]),
        orientation=int(report["orientation"]),
        frames=int(report["frames"]),
        pictures=pictures,
        capture=Capture.from_json(dict(report["capture"])),
        seconds=seconds,
    )


def encode_thumbnail(png: Path, out_dir: Path) -> dict[str, Picture]:
    """A video's thumbnail (a PNG ffmpeg wrote from the decoded frames) as WebP and JPEG.

    Done in the worker itself: the input is a small picture our own ffmpeg wrote, not upload
    bytes, and it is opened as PNG only.
    """
    from PIL import Image

    from processing.photo_child import write

    with Image.open(png, formats=["PNG"]) as picture:
        written = write(picture.convert("RGB"), out_dir, "thumb")
    return {
        name: Picture(out_dir / name, facts["width"], facts["height"], facts["size"])
        for name, facts in written.items()
    }
