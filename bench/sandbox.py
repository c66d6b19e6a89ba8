"""The decoder sandbox's cost: the same ffprobe, ffmpeg and photo child runs, bare and confined.

Makes a 2 s 720p H.264 clip and a 12 MP JPEG, then, alternating in one run (the order flips
every round), times each command started bare (the limits only: prlimit, nice) and started as
a job starts it (`Sandbox.command` with the confinement the worker's start-up finds here: empty
environment, nobody, no capabilities, seccomp, own mount/network/PID namespaces).
Prints medians and the ratio confined/bare per command, and which protections applied.
Usage: .venv/bin/python bench/sandbox.py [--rounds N]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from processing.confinement import probe_confinement  # noqa: E402
from processing.inputs import MediaInput  # noqa: E402
from processing.limits import Limits, Sandbox  # noqa: E402
from processing.photos import render_photo  # noqa: E402
from processing.probe import probe_file  # noqa: E402
from processing.transcode import TranscodeOptions, transcode_args  # noqa: E402
from tests.fidelity_media import photo_like  # noqa: E402


def _clip(path: Path) -> Path:
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30:d=2",
         "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", str(path)],
        check=True,
    )  # fmt: skip
    return path


def _timed(action: Callable[[Sandbox], object], sandbox: Sandbox) -> tuple[float, float]:
    """Wall and CPU seconds (the children's, steadier on a loaded machine) of one run."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    action(sandbox)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime


def _run(sandbox: Sandbox, argv: list[str], reads: list[Path], writes: list[Path]) -> None:
    command = sandbox.command(argv, reads=reads, writes=writes)
    subprocess.run(command, check=True, capture_output=True, env=sandbox.env)


def main() -> None:
    """Time each command bare and confined, alternating, and print the ratios."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    confinement = probe_confinement()
    print(f"confinement: {confinement.user=} {confinement.seccomp=} {confinement.isolate=}")
    with tempfile.TemporaryDirectory(prefix="mediavault-bench-sandbox-") as folder:
        work = Path(folder)
        media = MediaInput.open(_clip(work / "clip.mp4"))
        probe = probe_file(media)
        photo = MediaInput.open(photo_like(work / "photo.jpg"))
        options = TranscodeOptions(encoder="libx265", preset="ultrafast")
        sandboxes = {
            "bare": Limits().sandbox_for(probe),
            "confined": Limits(confinement=confinement).sandbox_for(probe),
        }
        outs = {id(sandbox): work / kind for kind, sandbox in sandboxes.items()}  # one each

        def encode(sandbox: Sandbox) -> None:
            out = outs[id(sandbox)]
            out.mkdir(exist_ok=True)
            args = transcode_args(media, out / "hevc.mp4", probe, options)
            _run(sandbox, args, [media.path], [out])

        commands: dict[str, Callable[[Sandbox], object]] = {
            "ffprobe": lambda s: probe_file(media, sandbox=s),
            "x265 2 s 720p": encode,
            "photo 12 MP": lambda s: render_photo(photo, outs[id(s)] / "photo", sandbox=s),
        }
        times: dict[tuple[str, str], list[tuple[float, float]]] = {}
        for name, command in commands.items():
            for sandbox in sandboxes.values():  # warm the page cache
                command(sandbox)
            for number in range(args.rounds):
                kinds = list(sandboxes) if number % 2 == 0 else list(reversed(sandboxes))
                for kind in kinds:
                    times.setdefault((name, kind), []).append(_timed(command, sandboxes[kind]))
        print(f"\nmedians of {args.rounds} alternating rounds")
        print(f"{'command':<16}{'bare s':>9}{'conf. s':>9}{'ratio':>8}{'added ms':>10}"
              f"{'CPU bare':>10}{'CPU conf.':>10}{'ratio':>8}")  # fmt: skip
        for name in commands:
            bare, confined = (
                [statistics.median(t[i] for t in times[(name, kind)]) for i in (0, 1)]
                for kind in ("bare", "confined")
            )
            print(f"{name:<16}{bare[0]:>9.3f}{confined[0]:>9.3f}{confined[0] / bare[0]:>7.2f}x"
                  f"{(confined[0] - bare[0]) * 1000:>10.0f}{bare[1]:>10.3f}{confined[1]:>10.3f}"
                  f"{confined[1] / bare[1]:>7.2f}x")  # fmt: skip


if __name__ == "__main__":
    main()
