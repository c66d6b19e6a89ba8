"""What a job may cost: caps on the media itself, and the limits ffmpeg and ffprobe run under."""

from __future__ import annotations

import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from processing.confinement import Confinement, decoder_env
from processing.errors import PermanentProcessingError
from processing.inputs import too_many_pixels

if TYPE_CHECKING:
    from mediavault.config import ProcessingSettings
    from processing.probe import Probe

# A 1080p frame: the unit the time allowance is counted in.
_HD_PIXELS = 1920 * 1080
# Jobs expected to cost more than this many 1080p-seconds run at a lower CPU priority, so that
# short uploads running beside them are not slowed down by them.
_HEAVY_COST = 60.0
HEAVY_NICENESS = 10


# A worker killed mid-encode (SIGKILL, OOM) must not leave its tools running on: the kernel
# kills them when the thread that started them dies. setpriv (util-linux) sets that up and execs.
DIE_WITH_PARENT: tuple[str, ...] = (
    ("setpriv", "--pdeathsig", "KILL", "--") if shutil.which("setpriv") else ()
)


@dataclass(frozen=True)
class Sandbox:
    """The limits one ffmpeg/ffprobe/photo child process is started under (unset: no limit)."""

    memory_bytes: int | None = None  # address space (RLIMIT_AS)
    cpu_seconds: int | None = None  # CPU time (RLIMIT_CPU): SIGXCPU past it
    niceness: int = 0
    confinement: Confinement | None = None  # uid, capabilities, seccomp, namespaces

    def command(
        self, argv: Sequence[str], *, reads: Sequence[Path] = (), writes: Sequence[Path] = ()
    ) -> list[str]:
        """The command running `argv` under these limits (same pid: each step execs the next).

        `reads` are the files the tool reads, `writes` the directories it writes into: made
        usable by the decoder's uid, and the only ones its mount namespace shows besides the
        system.
        """
        words = list(DIE_WITH_PARENT)
        limits = []
        if self.memory_bytes is not None:
            limits.append(f"--as={self.memory_bytes}")
        if self.cpu_seconds is not None:
            # The soft limit sends SIGXCPU, which ffmpeg handles by stopping; the hard one kills.
            limits.append(f"--cpu={self.cpu_seconds}:{self.cpu_seconds + 10}")
        if limits:
            words += ["prlimit", *limits, "--"]
        if self.niceness:
            words += ["nice", "-n", str(self.niceness), "--"]
        tool = [shutil.which(argv[0]) or argv[0], *argv[1:]]
        if self.confinement is None:
            return [*words, *tool]
        self.confinement.prepare(reads, writes)
        return [*words, *self.confinement.wrap(tool, reads, writes)]

    def reclaim(self, writes: Sequence[Path]) -> None:
        """After the tool ended: its output directories hold only plain files of the worker's."""
        if self.confinement is not None:
            self.confinement.reclaim(writes)

    @property
    def env(self) -> dict[str, str]:
        """The whole environment of the tool: nothing of the worker's (no credentials)."""
        return decoder_env()


@dataclass(frozen=True)
class Limits:
    """Caps a media must stay within, and the time and resources its job gets."""

    max_pixels: int = 120_000_000
    max_duration_seconds: int = 4 * 3600
    max_frames: int = 4 * 3600 * 60
    memory_bytes: int | None = 8 * 1024**3
    timeout_cap_seconds: float = 6 * 3600.0
    base_seconds: float = 120.0
    seconds_per_hd_second: float = 30.0  # wall time allowed per second of 1080p video
    confinement: Confinement | None = None  # what start-up found this platform allows

    @classmethod
    def from_settings(
        cls, settings: ProcessingSettings, confinement: Confinement | None = None
    ) -> Limits:
        """The limits the worker's settings ask for, with the confinement probed at start."""
        return cls(
            max_pixels=settings.max_pixels,
            max_duration_seconds=settings.max_duration_seconds,
            max_frames=settings.max_frames,
            memory_bytes=settings.max_memory_bytes or None,
            timeout_cap_seconds=float(settings.job_timeout_seconds),
            seconds_per_hd_second=float(settings.seconds_per_hd_second),
            confinement=confinement,
        )

    def check(self, probe: Probe) -> None:
        """Refuse a media beyond the caps, from what its headers say (nothing decoded yet)."""
        video = probe.video
        if video is not None and video.width * video.height > self.max_pixels:
            raise too_many_pixels((video.width, video.height), self.max_pixels)
        seconds = (probe.duration_ms or 0) / 1000
        if seconds > self.max_duration_seconds:
            raise PermanentProcessingError(
                f"the media lasts {_clock(seconds)}; at most {_clock(self.max_duration_seconds)}"
                " is accepted"
            )
        frames = self.frame_estimate(probe)
        if frames is not None and frames > self.max_frames:
            raise PermanentProcessingError(
                f"the video has about {frames} frames; at most {self.max_frames} are accepted"
            )

    def frame_estimate(self, probe: Probe) -> int | None:
        """Frames the video holds, as its header counts them or as duration times rate."""
        video = probe.video
        if video is None or probe.is_image:
            return None
        if video.frame_count:
            return video.frame_count
        if video.fps and probe.duration_ms:
            return math.ceil(video.fps * probe.duration_ms / 1000)
        return None

    def cost(self, probe: Probe) -> float:
        """The work a media asks for, in seconds of 1080p video (pictures count as one)."""
        video = probe.video
        if video is None:
            return (probe.duration_ms or 0) / 1000 / 20  # audio re-encodes far faster
        scale = max(1.0, video.width * video.height / _HD_PIXELS)
        seconds = 1.0 if probe.is_image else max(1.0, (probe.duration_ms or 0) / 1000)
        return scale * seconds

    def timeout_for(self, probe: Probe) -> float:
        """Wall-clock time the job's tools may take: grows with the work, up to the cap."""
        allowed = self.base_seconds + self.seconds_per_hd_second * self.cost(probe)
        return min(self.timeout_cap_seconds, allowed)

    def sandbox_for(self, probe: Probe | None) -> Sandbox:
        """The process limits for a job's tools (before the probe: for the probe itself)."""
        timeout = self.timeout_for(probe) if probe is not None else self.base_seconds
        cores = os.cpu_count() or 1
        heavy = probe is not None and self.cost(probe) > _HEAVY_COST
        return Sandbox(
            memory_bytes=self.memory_bytes,
            cpu_seconds=math.ceil(timeout * cores),
            niceness=HEAVY_NICENESS if heavy else 0,
            confinement=self.confinement,
        )


def _clock(seconds: float) -> str:
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}"
