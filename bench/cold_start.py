"""Cold start of each function vs a hello-world functions-framework function (median ratios).

Starts a throwaway stack (PostgreSQL, MinIO, NSQ) on free ports, then, alternating in one run,
starts each function standalone and a hello-world function, timing process start to the first
200 from /healthz (hello-world: /). It also times what a user waits for after a scale to zero:
process start to the first 200 of an authenticated `GET /api/media` (a bearer token of a user
with a few media). Prints the medians and each one's ratio to hello-world.
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
import uuid
from collections.abc import Mapping
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediavault.devstack.services import ServiceSpec, function_specs  # noqa: E402
from mediavault.routes import FUNCTIONS  # noqa: E402
from mediavault.services import Services  # noqa: E402
from mediavault.users import create_api_token, get_or_create_local_user  # noqa: E402
from tests.harness import ProcessGroup, Stack, free_port, running_stack  # noqa: E402

HELLO = """
def hello(request):
    return "hello"
"""
MEDIA_LIST = "media list"


def time_to_first_200(
    group: ProcessGroup, spec: ServiceSpec, url: str, headers: Mapping[str, str] | None = None
) -> float:
    """Seconds from spawning the process to its first 200 at the URL."""
    started = time.perf_counter()
    running = group.start(spec, wait=False)
    try:
        while True:
            try:
                if httpx.get(url, headers=headers, timeout=5.0).status_code == 200:
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


def _bearer(stack: Stack) -> dict[str, str]:
    """A user with a few media rows and an API token, as the authenticated request's header."""
    services = Services.from_settings(stack.settings)
    try:
        with services.pool.connection() as conn:
            user = get_or_create_local_user(conn, "bench")
            for index in range(20):
                media_id = str(uuid.uuid4())
                conn.execute(
                    "INSERT INTO media (id, owner_id, filename, content_type, kind, size_bytes,"
                    " upload_key) VALUES (%s, %s, %s, 'image/png', 'image', 1000, %s)",
                    (media_id, user.id, f"picture-{index}.png", f"uploads/{media_id}"),
                )
            token = create_api_token(conn, user.id, "bench")
    finally:
        services.close()
    return {"Authorization": f"Bearer {token.token}"}


def _measure(stack: Stack, hello_dir: Path, rounds: int) -> None:
    """Alternate hello-world and each function; print medians and ratios."""
    layout, tools, group = stack.layout, stack.binaries, stack.processes
    specs = {spec.name[3:]: spec for spec in function_specs(layout, tools)}
    bearer = _bearer(stack)
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
    hello_url = f"http://127.0.0.1:{hello_port}/"
    samples: dict[str, list[float]] = {name: [] for name in ("hello-world", *FUNCTIONS)}
    samples[MEDIA_LIST] = []
    for _ in range(rounds):
        for name in FUNCTIONS:
            samples["hello-world"].append(time_to_first_200(group, hello, hello_url))
            url = f"{layout.function_url(name)}/healthz"
            samples[name].append(time_to_first_200(group, specs[name], url))
        samples["hello-world"].append(time_to_first_200(group, hello, hello_url))
        url = f"{layout.function_url('media')}/api/media"
        samples[MEDIA_LIST].append(time_to_first_200(group, specs["media"], url, bearer))
    baseline = statistics.median(samples["hello-world"])
    print(f"cold start, median of {rounds} runs each (process start -> first 200)")
    print("functions: GET /healthz; media list: an authenticated GET /api/media")
    print(f"{'function':<14}{'median s':>10}{'ratio':>8}")
    for name, values in samples.items():
        median = statistics.median(values)
        print(f"{name:<14}{median:>10.3f}{median / baseline:>8.2f}x")


if __name__ == "__main__":
    main()
