"""Photo thumbnails: bytes and time per 12 MP photo (JPEG, HEIC) vs vipsthumbnail and convert.

Makes a 12 MP photo-like picture (a Mandelbrot view with light noise) as JPEG and as HEIC, then,
alternating in one run, times for each file:
  - ours: the sandboxed photo child exactly as the worker starts it (Python start-up, sandbox
    prefix, decode, orientation, sRGB, WebP thumbnail at 320 px), thumbnail only, and the full
    job step (thumbnail and 1440 px preview, each as WebP and JPEG);
  - vipsthumbnail (libvips-tools) and ImageMagick's convert (-thumbnail), writing WebP at the
    same quality (75) and size.
Sizes are compared at equal quality setting, with each thumbnail's SSIM against a reference
(a Lanczos downscale of the full decode, lossless) printed beside it.
Goals (issue 14): time <= 1.2x vipsthumbnail's, bytes <= 1.0x at equal quality.
Needs: apt-get install libvips-tools imagemagick (the bench says so when they are missing).
Usage: .venv/bin/python bench/photos.py [--rounds N]
"""

from __future__ import annotations

import argparse
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402

from processing.confinement import probe_confinement  # noqa: E402
from processing.inputs import MediaInput  # noqa: E402
from processing.limits import Limits  # noqa: E402
from processing.photo_child import WEBP_QUALITY  # noqa: E402
from processing.photos import render_photo  # noqa: E402
from tests.fidelity_media import photo_like  # noqa: E402

TIME_GOAL = 1.2
SIZE_GOAL = 1.0
QUALITY = WEBP_QUALITY["thumb"]


def _tools() -> dict[str, str]:
    found = {name: shutil.which(name) for name in ("vipsthumbnail", "convert")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        sys.exit(f"missing {', '.join(missing)}: apt-get install libvips-tools imagemagick")
    convert = found["convert"] or ""
    if Path(convert).resolve().parent != Path("/usr/bin"):
        convert = "/usr/bin/convert"  # Debian's ImageMagick, not a stand-in earlier on PATH
    return {"vipsthumbnail": found["vipsthumbnail"] or "", "convert": convert}


def _timed(command: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True)
    return time.perf_counter() - started


def _ssim(reference: Path, picture: Path) -> float:
    done = subprocess.run(
        ["ffmpeg", "-v", "info", "-nostdin", "-i", str(reference), "-i", str(picture),
         "-lavfi", "[0:v]format=rgb24[a];[1:v]format=rgb24,scale=320:240[b];[a][b]ssim",
         "-f", "null", "-"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    found = re.search(r"All:([0-9.]+)", done.stderr)
    return float(found.group(1)) if found else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    tools = _tools()
    sandbox = Limits(confinement=probe_confinement()).sandbox_for(None)  # as the worker's
    with tempfile.TemporaryDirectory(prefix="mediavault-bench-photos-") as temp:
        work = Path(temp)
        photos = {"JPEG 12 MP": photo_like(work / "photo.jpg"),
                  "HEIC 12 MP": photo_like(work / "photo.heic", fmt="HEIF")}  # fmt: skip
        for label, photo in photos.items():
            media = MediaInput.open(photo)
            reference = work / f"{photo.stem}-{photo.suffix[1:]}-ref.png"
            if photo.suffix == ".heic":
                import pillow_heif

                pillow_heif.register_heif_opener()
            with Image.open(photo) as full:
                full.convert("RGB").resize((320, 240), Image.Resampling.LANCZOS).save(reference)
            outputs = {
                "vipsthumbnail": work / f"vips-{photo.suffix[1:]}.webp",
                "convert": work / f"convert-{photo.suffix[1:]}.webp",
            }
            commands = {
                "vipsthumbnail": [tools["vipsthumbnail"], str(photo), "-s", "320",
                                  "-o", f"{outputs['vipsthumbnail']}[Q={QUALITY}]"],
                "convert": [tools["convert"], str(photo), "-thumbnail", "320x320",
                            "-quality", str(QUALITY), str(outputs["convert"])],
            }  # fmt: skip
            times: dict[str, list[float]] = {"ours": [], "ours, whole step": [],
                                             "vipsthumbnail": [], "convert": []}  # fmt: skip
            ours = work / f"ours-{photo.suffix[1:]}"
            for _ in range(args.rounds):
                times["ours"].append(
                    render_photo(media, ours, preview=False, sandbox=sandbox).seconds
                )
                for name, command in commands.items():
                    times[name].append(_timed(command))
                whole = render_photo(media, work / f"whole-{photo.suffix[1:]}", sandbox=sandbox)
                times["ours, whole step"].append(whole.seconds)
            outputs["ours"] = ours / "thumb.webp"
            outputs["ours, whole step"] = work / f"whole-{photo.suffix[1:]}" / "thumb.webp"
            base_time = statistics.median(times["vipsthumbnail"])
            base_size = outputs["vipsthumbnail"].stat().st_size
            print(f"\n{label} ({photo.stat().st_size / 1e6:.1f} MB), WebP q{QUALITY}, 320 px, "
                  f"median of {args.rounds}")  # fmt: skip
            print(f"  {'':18} {'time':>8} {'x vips':>7} {'bytes':>7} {'x vips':>7} {'SSIM':>7}")
            for name, seconds in times.items():
                median = statistics.median(seconds)
                size = outputs[name].stat().st_size
                ssim = _ssim(reference, outputs[name])
                print(f"  {name:18} {median * 1000:6.0f}ms {median / base_time:6.2f}x "
                      f"{size:7d} {size / base_size:6.2f}x {ssim:7.4f}")  # fmt: skip
            ratio = statistics.median(times["ours"]) / base_time
            size_ratio = outputs["ours"].stat().st_size / base_size
            verdict = "met" if ratio <= TIME_GOAL and size_ratio <= SIZE_GOAL else "NOT met"
            print(f"  goal (time <= {TIME_GOAL}x, bytes <= {SIZE_GOAL}x): {verdict}")


if __name__ == "__main__":
    main()
