"""The original a share link hands out: a copy without the place, written losslessly when needed.

Where a photo or video was made is its owner's alone (issue 20): a link hands out a copy whose
metadata no longer names it, unless its owner chose otherwise. Nothing is decoded or re-encoded:
pictures and MP4/QuickTime files are rewritten by exiftool, which deletes the tags of its
Location group (EXIF GPS, XMP GPS and location fields, IPTC city and location fields, QuickTime
GPS coordinates and Apple's location keys) and copies pixels and media data as they are; other
containers are remuxed by ffmpeg (every stream copied) without the tags that name a place. The
copy is checked again before it is used. Both tools run under the job's Sandbox, like every
other step that reads upload bytes.
"""

from __future__ import annotations

import json
import logging
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from processing.confinement import setup_failure
from processing.errors import ProcessingError, TransientProcessingError
from processing.inputs import MediaInput
from processing.limits import Sandbox
from processing.photos import _run as run_child  # the photo child's runner: same sandboxing
from processing.probe import Probe, probe_file
from processing.runner import HeartbeatCallback, run_ffmpeg
from processing.video import names_a_place

log = logging.getLogger(__name__)

# Formats exiftool rewrites in place (HEIF and AVIF included); the rest go through ffmpeg.
EXIFTOOL_FORMATS = frozenset({"jpeg", "png", "gif", "webp", "tiff", "heif", "avif", "mp4"})
# Formats that hold no metadata at all.
_BARE_FORMATS = frozenset({"bmp", "aac"})
# The muxer that writes each remuxed format back.
_MUXERS = {"matroska": "matroska", "avi": "avi", "mpegts": "mpegts", "mpegps": "vob",
           "ogg": "ogg", "mp3": "mp3", "flac": "flac", "wav": "wav"}  # fmt: skip
# ffmpeg writes the place of `-metadata location=…` under a plain `location` key, which exiftool
# knows no name for: this declares it, in the Location group like Apple's own location keys.
# Its own file, never the user's ~/.ExifTool_config (Perl that exiftool would run).
_CONFIG = """%Image::ExifTool::UserDefined = (
    'Image::ExifTool::QuickTime::Keys' => {
        'location' => { Name => 'KeysLocation', Groups => { 2 => 'Location' } },
    },
);
1;
"""
_STDERR_LIMIT = 500


@dataclass(frozen=True)
class SharedOriginal:
    """What a share link may hand out as this original."""

    checked: bool  # False: whether it names a place is unknown, so a link hands out nothing
    copy: Path | None = None  # the copy without the place; None: the original names none


@dataclass(frozen=True)
class Tools:
    """How the job runs its tools: the time it allows, its sandbox, its heartbeat."""

    timeout: float
    sandbox: Sandbox
    on_heartbeat: HeartbeatCallback | None = None
    heartbeat_interval: float = 5.0


def shared_original(
    media: MediaInput,
    probe: Probe | None,
    out_dir: Path,
    *,
    served_type: str,
    tools: Tools,
    known_place: bool = False,
) -> SharedOriginal:
    """Look for a place in the original and, if it names one, write a copy without it."""
    # known_place: its capture facts (read by Pillow or ffprobe) already hold a place.
    name = media.format.name
    out_dir.mkdir(parents=True, exist_ok=True)
    try:
        if name in _BARE_FORMATS:
            return SharedOriginal(checked=True)
        if name in EXIFTOOL_FORMATS:
            return _with_exiftool(media, out_dir, tools, known_place=known_place)
        if probe is not None and name in _MUXERS:
            return _with_ffmpeg(media, probe, out_dir, served_type, tools)
    except TransientProcessingError:
        raise
    except ProcessingError as error:
        # The original is served and shown as before; only links without places cannot have it.
        log.warning("the place could not be removed from a %s original: %s", name, error.reason)
    return SharedOriginal(checked=False)


def _with_exiftool(
    media: MediaInput, out_dir: Path, tools: Tools, *, known_place: bool
) -> SharedOriginal:
    config = out_dir / "exiftool.config"
    config.write_text(_CONFIG)
    if not _places(media.path, config, tools):
        if known_place:  # a reader found what exiftool cannot see, hence cannot remove
            raise ProcessingError("a place was read from it where exiftool finds none")
        return SharedOriginal(checked=True)
    # No extension: exiftool picks the output's type from its name, and names may differ
    # (an MP4-family file may be QuickTime): the input's own type is kept that way.
    copy = out_dir / "original-shared"
    copy.unlink(missing_ok=True)
    done = _exiftool(
        ["-Location:all=", "-o", str(copy), str(media.path)], config, tools,
        reads=[media.path], writes=[out_dir],
    )  # fmt: skip
    if done.returncode != 0 or not copy.is_file():
        raise ProcessingError(f"exiftool could not write the copy: {_stderr(done)}")
    left = _places(copy, config, tools)
    if left:
        raise ProcessingError(f"the copy still names a place ({', '.join(sorted(left))})")
    _check_container(media, copy, tools)
    return SharedOriginal(checked=True, copy=copy)


def _places(path: Path, config: Path, tools: Tools) -> set[str]:
    """The names of the tags of the file that say where it was made."""
    # Metadata exiftool finds malformed (beyond minor problems) may hold a place it cannot read
    # that a more lenient reader could: such a file is refused rather than handed out.
    args = ["-j", "-G1", "-e", "-s", "-Location:all", "-Warning", "-Error", str(path)]
    done = _exiftool(args, config, tools, reads=[path])
    try:
        [found] = json.loads(done.stdout or b"[{}]")
        tags = {str(name): value for name, value in found.items() if name != "SourceFile"}
    except (ValueError, TypeError, AttributeError) as error:
        raise ProcessingError(f"exiftool could not read the file: {_stderr(done)}") from error
    problem = tags.pop("ExifTool:Error", None) or tags.pop("ExifTool:Warning", None)
    if done.returncode != 0 or problem is not None:
        raise ProcessingError(f"exiftool could not read all of it: {problem or _stderr(done)}")
    return set(tags)


def _exiftool(
    args: list[str],
    config: Path,
    tools: Tools,
    *,
    reads: list[Path],
    writes: tuple[Path, ...] | list[Path] = (),
) -> subprocess.CompletedProcess[bytes]:
    """Run exiftool confined like every decoder: it reads `reads` (and its config) only."""
    if shutil.which("exiftool") is None:
        raise TransientProcessingError("cannot run exiftool: not found")
    # -config first (exiftool reads it before anything else); -m: minor problems in the
    # metadata do not stop it, the check of the copy decides.
    argv = tools.sandbox.command(
        ["exiftool", "-config", str(config), "-q", "-q", "-m", *args],
        reads=[config, *reads], writes=list(writes),
    )  # fmt: skip
    try:
        done = run_child(
            argv, tools.timeout, tools.on_heartbeat, tools.heartbeat_interval, tools.sandbox
        )
    except OSError as error:
        raise TransientProcessingError(f"cannot run exiftool: {error}") from error
    finally:
        tools.sandbox.reclaim(list(writes))
    unconfined = setup_failure(done.returncode, done.stderr.decode("utf-8", "replace"))
    if unconfined is not None:
        raise unconfined
    return done


def _with_ffmpeg(
    media: MediaInput, probe: Probe, out_dir: Path, served_type: str, tools: Tools
) -> SharedOriginal:
    if not names_a_place(probe):
        return SharedOriginal(checked=True)
    muxer = _MUXERS[media.format.name]
    if muxer == "matroska" and served_type.endswith("/webm"):
        muxer = "webm"
    copy = out_dir / "original-shared"
    cleared = [word for key in probe.tags if "location" in key.lower()
               for word in ("-metadata", f"{key}=")]  # fmt: skip
    args = ["ffmpeg", "-v", "error", "-y", *media.argv(), "-map", "0", "-c", "copy",
            "-map_metadata", "0", *cleared, "-f", muxer, f"file:{copy}"]  # fmt: skip
    run_ffmpeg(
        args, timeout=tools.timeout, what="removing the place", sandbox=tools.sandbox,
        on_heartbeat=tools.on_heartbeat, heartbeat_interval=tools.heartbeat_interval,
        reads=[media.path], writes=[out_dir],
    )  # fmt: skip
    _check_container(media, copy, tools)
    return SharedOriginal(checked=True, copy=copy)


def _check_container(media: MediaInput, copy: Path, tools: Tools) -> None:
    """The copy reads as the same container, and its tags name no place (as ffprobe sees them)."""
    if not media.ffmpeg_readable:
        return  # HEIF/AVIF: exiftool's own check above is what there is
    written = probe_file(MediaInput(copy, media.format, media.max_pixels), sandbox=tools.sandbox)
    if names_a_place(written):
        raise ProcessingError("the copy still names a place in its container tags")


def _stderr(done: subprocess.CompletedProcess[bytes]) -> str:
    text = done.stderr.decode("utf-8", "replace").strip()
    return text[-_STDERR_LIMIT:] or f"exit status {done.returncode}"
