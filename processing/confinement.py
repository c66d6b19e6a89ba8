"""What confines the decoders (ffmpeg, ffprobe, the photo child) here: found once at start-up.

A decoder reads hostile bytes, so it gets as little as this platform allows: an environment of
PATH and LANG only (never a credential), an unprivileged uid and gid when the worker is root, no
capabilities, no_new_privs, a seccomp filter (`processing.confine`, with Debian's libseccomp
bindings) and, where namespaces may be made, its own mount, network and PID namespaces seeing
the system read-only plus its input and its output directory. `probe_confinement` tries each
protection once and logs each one that cannot be applied, with why; its result is handed to
every job (`Limits`, `Sandbox`).
"""

from __future__ import annotations

import ctypes
import logging
import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from processing.errors import TransientProcessingError

log = logging.getLogger(__name__)

# Debian's interpreter: python3-seccomp installs the bindings for it, whatever runs the worker.
SYSTEM_PYTHON = "/usr/bin/python3"
LAUNCHER = Path(__file__).with_name("confine.py")
SETUP_FAILED = 125  # confine.py's exit status when the confinement could not be set up
NOBODY = 65534
# All a decoder's environment holds: tools are named by absolute path, Python runs isolated.
DECODER_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
_SYSTEM_DIRS = ("/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
                "/dev", "/sys")  # fmt: skip
_PROBE_SECONDS = 20
_PR_SET_DUMPABLE = 4


@dataclass(frozen=True)
class Confinement:
    """The protections this platform allows, applied to each decoder started through it."""

    setpriv: str | None = None
    user: tuple[int, int] | None = None  # uid and gid to become (a root worker only)
    seccomp: bool = False
    isolate: bool = False  # own mount, network and PID namespaces, a read-only view
    python: str = SYSTEM_PYTHON
    base_reads: tuple[str, ...] = field(default_factory=tuple)  # system and Python, read-only

    def wrap(self, argv: Sequence[str], reads: Sequence[Path], writes: Sequence[Path]) -> list[str]:
        """The command that runs `argv` (absolute tool path first) confined."""
        words: list[str] = []
        if self.seccomp or self.isolate:
            words += [self.python, "-I", str(LAUNCHER)]
            if self.isolate:
                words.append("--isolate")
                for seen in self._reads(argv[0], reads):
                    words += ["--read", seen]
                for folder in writes:
                    words += ["--write", str(folder)]
            if self.seccomp:
                words.append("--seccomp")
            words.append("--")
        if self.setpriv is not None:
            words += [self.setpriv, *self._privileges(), "--pdeathsig=KILL", "--"]
        return [*words, *argv]

    def prepare(self, reads: Sequence[Path], writes: Sequence[Path]) -> None:
        """Let the decoder's uid read its input and write its output directory."""
        if self.user is None:
            return
        uid, gid = self.user
        for folder in writes:
            # What an earlier run left there (reclaimed since) may be written again.
            for parent, folders, files in os.walk(folder):
                for name in (*folders, *files):
                    os.chown(Path(parent) / name, uid, gid, follow_symlinks=False)
            os.chown(folder, uid, gid)
        for path in reads:
            mode = path.stat().st_mode
            if stat.S_ISREG(mode) and not mode & stat.S_IROTH:
                path.chmod(stat.S_IMODE(mode) | stat.S_IRGRP | stat.S_IROTH)
        if not self.isolate:
            # Seen at their real place: the directories above must let the decoder pass.
            for path in (*reads, *writes):
                _traversable(path.parent)

    def reclaim(self, writes: Sequence[Path]) -> None:
        """Take the decoder's output back: only regular files and folders, owned by the worker.

        Run once the decoder has ended. A symlink it left (to a file only root can read) would
        otherwise be followed by the worker when it stores the outputs.
        """
        if self.user is None:
            return
        for folder in writes:
            for parent, folders, files in os.walk(folder):
                for name in (*folders, *files):
                    _reclaim(Path(parent) / name)
            os.chown(folder, os.geteuid(), os.getegid())

    def _privileges(self) -> list[str]:
        if self.user is None:
            return ["--inh-caps=-all", "--ambient-caps=-all", "--no-new-privs"]
        uid, gid = self.user
        return [f"--reuid={uid}", f"--regid={gid}", "--clear-groups", "--inh-caps=-all",
                "--ambient-caps=-all", "--bounding-set=-all", "--no-new-privs"]  # fmt: skip

    def _reads(self, tool: str, reads: Sequence[Path]) -> list[str]:
        wanted = [*self.base_reads, os.path.dirname(os.path.realpath(tool)), *map(str, reads)]
        if self.setpriv is not None:
            wanted.append(os.path.dirname(os.path.realpath(self.setpriv)))
        return _outermost(wanted)


def decoder_env() -> dict[str, str]:
    """The whole environment a decoder starts with."""
    return dict(DECODER_ENV)


def setup_failure(returncode: int, stderr: str) -> TransientProcessingError | None:
    """The error for a decoder whose confinement could not be set up (not the file's fault)."""
    if returncode != SETUP_FAILED or "mediavault-confine:" not in stderr:
        return None
    line = next(x for x in stderr.splitlines() if "mediavault-confine:" in x)
    return TransientProcessingError(f"the decoder sandbox could not be set up ({line.strip()})")


def probe_confinement(
    uid: int = NOBODY, gid: int = NOBODY, *, python: str = SYSTEM_PYTHON
) -> Confinement:
    """Try each protection once; log each one this platform cannot apply, and why.

    A worker that is not root also makes itself not dumpable, so that decoders sharing its uid
    cannot read its environment or memory through /proc.
    """
    setpriv = shutil.which("setpriv")
    found = Confinement(setpriv=setpriv, python=python, base_reads=base_reads())
    if setpriv is None:
        why = "setpriv (util-linux) is not installed"
        _missing("decoders keep the worker's uid and capabilities", why)
    if not os.access(python, os.X_OK):
        why = f"{python} is not installed (Debian's python3 and python3-seccomp)"
        _missing("decoders run with no seccomp filter and no namespaces of their own", why)
    else:
        found = _try(found, "seccomp", "no seccomp filter")
        found = _try(found, "isolate", "no mount, network and PID namespaces of their own")
    if os.geteuid() != 0:
        _missing(f"decoders share the worker's uid {os.geteuid()}", "the worker is not root")
        _hide_from_own_uid()
    elif setpriv is not None:
        user = replace(found, user=(uid, gid))
        # The photo child's Python must run as that uid too (the probe runs the worker's).
        refused = _fails(user.wrap([sys.executable, "-I", "-c", ""], [], []))
        if refused is None:
            found = user
        else:
            _missing(f"decoders keep uid 0 (switching to {uid}:{gid} failed)", refused)
    if found.user is not None and not found.isolate:
        log.info("decoders see the worker's file system, within their uid's permissions")
    log.info(
        "decoders run confined: uid %s, seccomp %s, namespaces %s",
        found.user[0] if found.user else os.geteuid(),
        "on" if found.seccomp else "off", "on" if found.isolate else "off",
    )  # fmt: skip
    return found


def _hide_from_own_uid() -> None:
    """Make the worker not dumpable: its /proc environ and memory become root's alone."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_DUMPABLE, 0, 0, 0, 0) != 0:
        why = os.strerror(ctypes.get_errno())
        _missing("decoders of the worker's uid can read its environment in /proc", why)


def base_reads() -> tuple[str, ...]:
    """What every decoder sees read-only: the system, this Python and this package."""
    paths = [p for p in _SYSTEM_DIRS if os.path.lexists(p)]
    paths += [sys.prefix, sys.base_prefix, str(Path(__file__).resolve().parent)]
    return tuple(_outermost(paths))


def _try(
    found: Confinement, protection: Literal["seccomp", "isolate"], without: str
) -> Confinement:
    if protection == "seccomp":
        candidate = replace(found, seccomp=True)
    else:
        candidate = replace(found, isolate=True)
    why = _fails(candidate.wrap([_true()], [], []))
    if why is None:
        return candidate
    _missing(f"decoders run with {without}", why)
    return found


def _fails(argv: list[str]) -> str | None:
    """Why `argv` (a confined `true`) failed, or None when it ran."""
    try:
        done = subprocess.run(argv, capture_output=True, env=decoder_env(), check=False,
                              timeout=_PROBE_SECONDS)  # fmt: skip
    except (OSError, subprocess.TimeoutExpired) as error:
        return str(error)
    if done.returncode == 0:
        return None
    lines = done.stderr.decode("utf-8", "replace").strip().splitlines()
    return lines[-1] if lines else f"exit status {done.returncode}"


def _missing(consequence: str, why: str) -> None:
    log.warning("decoder sandbox: %s: %s", consequence, why)


def _true() -> str:
    return shutil.which("true") or "/bin/true"


def _outermost(paths: Sequence[str]) -> list[str]:
    """The paths, without those inside another one of them."""
    kept: list[str] = []
    for path in sorted({os.path.normpath(p) for p in paths}, key=len):
        if not any(path == k or path.startswith(k.rstrip("/") + "/") for k in kept):
            kept.append(path)
    return kept


def _reclaim(path: Path) -> None:
    info = path.lstat()
    plain = stat.S_ISDIR(info.st_mode) or (stat.S_ISREG(info.st_mode) and info.st_nlink == 1)
    if not plain:  # a symlink, a device, a fifo, or a hard link to someone else's file
        log.warning("removed %s, which a decoder left in its output", path.name)
        path.unlink()
        return
    os.chown(path, os.geteuid(), os.getegid(), follow_symlinks=False)


def _traversable(directory: Path) -> None:
    """Let anyone pass through the directories we own above a decoder's files."""
    for folder in (directory, *directory.parents):
        info = folder.stat()
        if info.st_uid == os.geteuid() and not info.st_mode & stat.S_IXOTH:
            folder.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXOTH)
