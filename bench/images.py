"""The images and the compose stack: build times, sizes, container cold start, compose timings.

In one run, on this machine:
- cold build of the three images (no layer cache; the base images as they are) and a rebuild
  of each after a one-line change in mediavault/ (buildah's layer cache), from a copy of the
  committed tree;
- each image's size and layer count;
- container cold start: `podman run` of the functions image to its first 200 on /healthz, against
  a hello-world functions-framework image built the same way from the same base (bench/hello),
  alternating, medians and their ratio;
- compose: `up -d` to every service running and healthy, and upload → ready of a 10 s 1080p clip
  through compose's gateway vs through the local stack of `make dev` (same run).
With --with-bases it first builds the stand-in base images anew (about 4 minutes).
Usage: .venv/bin/python bench/images.py [--rounds N] [--with-bases] [--skip-build] [--skip-compose]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediavault.devstack.layout import default_tools_dir  # noqa: E402
from mediavault.devstack.services import worker_spec  # noqa: E402
from mediavault.services import Services  # noqa: E402
from mediavault.users import create_api_token, get_or_create_local_user  # noqa: E402
from tests.compose_fixtures import compose_stack  # noqa: E402
from tests.harness import (  # noqa: E402
    ProcessGroup,
    free_port,
    functions_behind_gateway,
    layout_for,
    running_stack,
)
from tests.image_fixtures import container_env  # noqa: E402
from tests.podman import (  # noqa: E402
    APP_UID,
    FUNCTIONS_IMAGE,
    Containers,
    containers,
    env_options,
    hardened,
    podman,
    podman_environment,
)

IMAGES = ("functions", "processing", "minio")
HELLO_IMAGE = "localhost/mediavault-bench-hello:dev"
BENCH_TAG = "localhost/mediavault-bench-{image}:cold"


def buildah(context: Path, dockerfile: str, tag: str, *extra: str) -> float:
    """Seconds `buildah build` took."""
    started = time.perf_counter()
    subprocess.run(
        ["buildah", "build", "--quiet", "--pull=never", "--format", "docker", "--layers",
         "-f", dockerfile, "-t", tag, *extra, str(context)],
        env=podman_environment(), check=True, stdout=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


def minio_args() -> list[str]:
    """The build argument and Go caches scripts/build_images.sh gives the MinIO build."""
    versions = (ROOT / "scripts" / "versions.env").read_text()
    version = next(
        line.split("=", 1)[1] for line in versions.splitlines() if line.startswith("MINIO_")
    )
    args = ["--build-arg", f"MINIO_VERSION={version}"]
    if shutil.which("go"):
        env = dict(line.split("=", 1) for line in _go_env("GOMODCACHE", "GOCACHE"))
        args += ["--volume", f"{env['GOMODCACHE']}:/go/pkg/mod",
                 "--volume", f"{env['GOCACHE']}:/root/.cache/go-build"]  # fmt: skip
    return args


def _go_env(*names: str) -> list[str]:
    out = subprocess.run(["go", "env", *names], capture_output=True, text=True, check=True)
    return [f"{name}={value}" for name, value in zip(names, out.stdout.split(), strict=True)]


@contextlib.contextmanager
def tree_copy() -> Iterator[Path]:
    """The committed tree (git ls-files) in a temporary directory."""
    with tempfile.TemporaryDirectory(prefix="mediavault-bench-") as tmp:
        files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                               check=True).stdout.split(b"\0")  # fmt: skip
        for name in filter(None, files):
            source, target = ROOT / name.decode(), Path(tmp) / name.decode()
            if source.is_file():
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(source, target)
        yield Path(tmp)


def bench_base_images() -> None:
    """The stand-in base images from nothing (their stamps removed), as on a new machine."""
    images = default_tools_dir(os.environ) / "images"
    for stamp in images.glob(".*.stamp"):
        stamp.unlink()
    started = time.perf_counter()
    subprocess.run([str(ROOT / "scripts" / "build_base_images.sh"), "--stand-ins"], check=True)
    print(f"base images (stand-ins) from nothing: {time.perf_counter() - started:.0f} s")


def bench_builds() -> None:
    """Cold build, then a rebuild after a one-line change in mediavault/."""
    with tree_copy() as tree:
        for image in IMAGES:
            extra = minio_args() if image == "minio" else []
            cold = buildah(tree, f"docker/Dockerfile.{image}", BENCH_TAG.format(image=image),
                           "--no-cache", *extra)  # fmt: skip
            print(f"cold build {image}: {cold:.0f} s")
        with (tree / "mediavault" / "__init__.py").open("a") as init:
            init.write("# a one-line change\n")
        for image in IMAGES:
            extra = minio_args() if image == "minio" else []
            warm = buildah(tree, f"docker/Dockerfile.{image}", BENCH_TAG.format(image=image),
                           *extra)  # fmt: skip
            print(f"rebuild {image} after a one-line change in mediavault/: {warm:.0f} s")
        for image in IMAGES:
            podman("rmi", BENCH_TAG.format(image=image), check=False)


def sizes() -> None:
    """Each image's size and layer count."""
    for image in IMAGES:
        ref = f"localhost/mediavault-{image}:dev"
        info = json.loads(podman("image", "inspect", ref))[0]
        layers = len(info["RootFS"]["Layers"])
        print(f"{ref}: {info['Size'] / 1e6:.0f} MB, {layers} layers")


def first_200(made: Containers, options: list[str], url: str) -> float:
    """Seconds from `podman run` to the first 200 at the URL."""
    started = time.perf_counter()
    container = made.run(*options)
    try:
        while True:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(url, timeout=5.0).status_code == 200:
                    return time.perf_counter() - started
            if not made.running(container):
                raise SystemExit(made.logs(container))
            time.sleep(0.01)
    finally:
        made.remove(container)


def bench_cold_start(rounds: int) -> None:
    """The functions image against the hello-world image, alternating."""
    buildah(ROOT, "bench/hello/Dockerfile", HELLO_IMAGE)
    app, hello = [], []
    with running_stack("mediavault-bench-images-") as stack, containers() as made:
        env = container_env(stack.env)
        for _ in range(rounds):
            port = free_port()
            options = [*hardened(APP_UID), *env_options({"PORT": str(port)})]
            hello.append(first_200(made, [*options, HELLO_IMAGE], f"http://127.0.0.1:{port}/"))
            port = free_port()
            options = [
                *hardened(APP_UID),
                *env_options({**env, "PORT": str(port), "FUNCTION_TARGET": "media"}),
            ]
            app.append(first_200(made, [*options, FUNCTIONS_IMAGE],
                                 f"http://127.0.0.1:{port}/healthz"))  # fmt: skip
    podman("rmi", HELLO_IMAGE, check=False)
    ratio = statistics.median(app) / statistics.median(hello)
    print(f"container cold start, median of {rounds}: functions (media) "
          f"{statistics.median(app):.2f} s, hello-world {statistics.median(hello):.2f} s, "
          f"ratio {ratio:.2f}")  # fmt: skip


def clip_1080p(path: Path) -> Path:
    """10 s of 1080p H.264 with audio."""
    subprocess.run(
        ["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i",
         "testsrc2=size=1920x1080:rate=30:duration=10", "-f", "lavfi", "-i",
         "sine=frequency=440:duration=10", "-c:v", "libx264", "-preset", "veryfast",
         "-pix_fmt", "yuv420p", "-c:a", "aac", str(path)],
        check=True,
    )  # fmt: skip
    return path


def upload_to_ready(base: str, token: str, clip: Path) -> float:
    """Seconds from announcing the upload to the media being ready."""
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        started = time.perf_counter()
        data = clip.read_bytes()
        body = {"filename": clip.name, "content_type": "video/mp4", "size_bytes": len(data)}
        announced = client.post("/api/uploads", json=body).json()
        httpx.put(announced["url"], content=data, headers=announced["headers"], timeout=120)
        media_id = announced["media_id"]
        client.post(f"/api/uploads/{media_id}/complete").raise_for_status()
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            status = client.get(f"/api/media/{media_id}").json()["status"]
            if status in ("ready", "failed"):
                assert status == "ready", status
                return time.perf_counter() - started
            time.sleep(0.2)
    raise SystemExit(f"{media_id} not ready in time")


def bench_compose(clip: Path) -> None:
    """`up -d` to healthy, and upload → ready through compose's gateway."""
    with compose_stack() as stack:
        started = time.perf_counter()
        stack.up()
        stack.wait_until_serving()
        _wait(lambda: all(state.endswith(("healthy", "-")) or state.startswith("exited")
                          for state in stack.health().values()))  # fmt: skip
        print(f"compose up -d to every service serving and healthy: "
              f"{time.perf_counter() - started:.1f} s")  # fmt: skip
        seconds = upload_to_ready(stack.gateway, stack.token("bench"), clip)
        print(f"upload → ready, 10 s 1080p, through compose: {seconds:.1f} s")


def bench_dev_stack(clip: Path) -> None:
    """Upload → ready through the processes of `make dev` (gateway, functions, worker)."""
    with running_stack("mediavault-bench-dev-") as stack:
        env = {**stack.env}
        layout = layout_for(env)
        services = Services.from_settings(stack.settings)
        with services.pool.connection() as conn:
            user = get_or_create_local_user(conn, "bench")
            token = create_api_token(conn, user.id, "bench").token
        services.close()
        worker = ProcessGroup(stack.layout.data_dir, env)
        worker.start(worker_spec(layout, stack.binaries))
        try:
            with functions_behind_gateway(stack, env, ("/api/auth/me",)):
                seconds = upload_to_ready(env["API_BASE_URL"], token, clip)
        finally:
            worker.stop_all()
    print(f"upload → ready, 10 s 1080p, through the make dev stack: {seconds:.1f} s")


def _wait(check: Callable[[], bool], deadline: float = 300.0) -> None:
    end = time.monotonic() + deadline
    while not check():
        if time.monotonic() > end:
            raise SystemExit("compose did not become healthy")
        time.sleep(0.5)


def main() -> None:
    """Run the measurements."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-build", action="store_true")
    parser.add_argument("--skip-compose", action="store_true")
    parser.add_argument("--with-bases", action="store_true", help="rebuild the base images first")
    args = parser.parse_args()
    if args.with_bases:
        bench_base_images()
    if not args.skip_build:
        bench_builds()
    sizes()
    bench_cold_start(args.rounds)
    if not args.skip_compose:
        with tempfile.TemporaryDirectory() as tmp:
            clip = clip_1080p(Path(tmp) / "clip-1080p.mp4")
            bench_compose(clip)
            bench_dev_stack(clip)


if __name__ == "__main__":
    main()
