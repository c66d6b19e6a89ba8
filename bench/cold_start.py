"""Cold start of each function vs a hello-world functions-framework function (median ratios).

Starts a throwaway stack (PostgreSQL, MinIO, NSQ) on free ports, then, alternating in one run,
starts each function standalone and a hello-world function, timing process start to the first
200 from /healthz (hello-world: /). Prints the medians and each function's ratio to hello-world.
Usage: .venv/bin/python bench/cold_start.py [--rounds N]
"""

from __future__ import annotations

import argparse
import compileall
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediavault.devstack.services import ServiceSpec, function_specs  # noqa: E402
from mediavault.routes import FUNCTIONS  # noqa: E402
from tests.harness import ProcessGroup, Stack, free_port, running_stack  # noqa: E402

HELLO = """
def hello(request):
    return "hello"
"""


def time_to_first_200(group: ProcessGroup, spec: ServiceSpec, url: str) -> float:
    """Seconds from spawning the process to its first 200 at the URL."""
    started = time.perf_counter()
    running = group.start(spec, wait=False)
    try:
        while True:
            try:
                if httpx.get(url, timeout=5.0).status_code == 200:
                    return time.perf_counter() - started
            except httpx.HTTPError:
                pass
            if running.process.poll() is not None:
                raise SystemExit(f"{spec.name} exited:\n{running.log_tail()}")
            time.sleep(0.01)
    finally:
        running.stop()
        del group.running[spec.name]


def main() -> None:
    """Run the benchmark and print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=7)
    rounds = parser.parse_args().rounds
    # An image ships compiled bytecode; do the same here even where PYTHONDONTWRITEBYTECODE is set.
    compileall.compile_dir(ROOT / "mediavault", quiet=1)

    hello_dir = Path(tempfile.mkdtemp(prefix="hello-fn-"))
    (hello_dir / "main.py").write_text(HELLO)
    try:
        with running_stack("mediavault-bench-") as stack:
            _measure(stack, hello_dir, rounds)
    finally:
        shutil.rmtree(hello_dir, ignore_errors=True)


def _measure(stack: Stack, hello_dir: Path, rounds: int) -> None:
    """Alternate hello-world and each function; print medians and ratios."""
    layout, tools, group = stack.layout, stack.binaries, stack.processes
    specs = {spec.name[3:]: spec for spec in function_specs(layout, tools)}
    hello_port = free_port()
    hello = ServiceSpec(
        "hello",
        (
            str(tools.python_bin / "functions-framework"),
            "--source", str(hello_dir / "main.py"),
            "--target", "hello",
            "--host", "127.0.0.1",
            "--port", str(hello_port),
        ),
    )  # fmt: skip
    samples: dict[str, list[float]] = {name: [] for name in ("hello-world", *FUNCTIONS)}
    for _ in range(rounds):
        for name in FUNCTIONS:
            samples["hello-world"].append(
                time_to_first_200(group, hello, f"http://127.0.0.1:{hello_port}/")
            )
            url = f"{layout.function_url(name)}/healthz"
            samples[name].append(time_to_first_200(group, specs[name], url))
    baseline = statistics.median(samples["hello-world"])
    print(f"cold start, median of {rounds} runs each (process start -> first 200)")
    print(f"{'function':<14}{'median s':>10}{'ratio':>8}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:<14}{median:>10.3f}{median / baseline:>8.2f}x")


if __name__ == "__main__":
    main()
