"""docker/compose.yaml for real: Docker Compose v2 against podman's Docker-compatible socket."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from mediavault.devstack.layout import default_tools_dir
from tests.harness import free_port, make_shared_dir, poll
from tests.podman import (
    nothing_left_behind,
    podman,
    podman_environment,
    stop_conmon,
    unique_name,
)

ROOT = Path(__file__).resolve().parent.parent
COMPOSE_FILE = ROOT / "docker" / "compose.yaml"
# The services that read API_BASE_URL and S3_PUBLIC_URL (the x-app-env anchor).
APP_SERVICES = ("init", "worker", "fn-auth", "fn-presign", "fn-media", "fn-collections",
                "fn-share", "fn-web")  # fmt: skip
UP_SECONDS = 300.0


def compose_binary() -> Path:
    """Docker Compose as scripts/install.sh builds it."""
    binary = default_tools_dir(os.environ) / "bin" / "docker-compose"
    if not binary.exists():
        pytest.fail("docker-compose is missing: run `make install-test-tools` (make test does)")
    return binary


def override(gateway_port: int, s3_port: int) -> str:
    """A second compose file: the stack on free ports, so that it runs beside `make dev`."""
    urls = {"API_BASE_URL": f"http://127.0.0.1:{gateway_port}",
            "FRONTEND_URL": f"http://127.0.0.1:{gateway_port}",
            "S3_PUBLIC_URL": f"http://127.0.0.1:{s3_port}"}  # fmt: skip
    lines = ["services:",
             "  gateway:", "    ports: !override", f"      - 127.0.0.1:{gateway_port}:8080",
             "  minio:", "    ports: !override", f"      - 127.0.0.1:{s3_port}:9000"]  # fmt: skip
    for service in APP_SERVICES:
        lines += [f"  {service}:", "    environment:"]
        lines += [f"      {name}: {json.dumps(value)}" for name, value in urls.items()]
    return "\n".join(lines) + "\n"


@dataclass
class PodmanService:
    """`podman system service` on a private socket, started and stopped by its pid."""

    socket: Path
    process: subprocess.Popen[bytes]

    @property
    def docker_host(self) -> str:
        """DOCKER_HOST for clients of the Docker API."""
        return f"unix://{self.socket}"

    def ready(self) -> bool:
        """True once the socket answers the Docker API's ping."""
        transport = httpx.HTTPTransport(uds=str(self.socket))
        try:
            with httpx.Client(transport=transport, timeout=2.0) as client:
                return client.get("http://podman/_ping").text == "OK"
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        """SIGTERM to its process group, SIGKILL after 20 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(20)


@contextmanager
def podman_service(directory: Path) -> Iterator[PodmanService]:
    """The Docker-compatible API for the block's duration."""
    socket = directory / "podman.sock"
    log = (directory / "podman-service.log").open("ab")
    process = subprocess.Popen(
        ["podman", "system", "service", "--time=0", f"unix://{socket}"],
        env=podman_environment(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    log.close()
    service = PodmanService(socket, process)
    try:
        poll(service.ready, "podman's API socket")
        yield service
    finally:
        service.stop()


@dataclass
class HealthChecks:
    """Runs each container's own healthcheck on its own interval, as Docker's daemon would.

    Podman 4.3 schedules healthchecks with systemd timers, which these machines do not run, so
    `condition: service_healthy` would never hold; the checks themselves are not changed.
    """

    project: str
    interval_seconds: dict[str, float] = field(default_factory=dict)
    last_run: dict[str, float] = field(default_factory=dict)
    runs: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        """Start checking in a thread."""
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop checking."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(60)

    def _loop(self) -> None:
        while not self._stop.wait(1.0):
            self.check_due()

    def check_due(self) -> None:
        """Run every check whose interval has passed."""
        label = f"label=com.docker.compose.project={self.project}"
        listed = podman("ps", "--filter", label, "--format", "{{.ID}}", check=False)
        now = time.monotonic()
        for container in listed.split():
            interval = self._interval(container)
            if interval is None or now - self.last_run.get(container, 0.0) < interval:
                continue
            self.last_run[container] = now
            podman("healthcheck", "run", container, check=False, timeout=120)
            self.runs += 1

    def _interval(self, container: str) -> float | None:
        if container not in self.interval_seconds:
            raw = podman("inspect", "--format", "{{json .Config.Healthcheck}}", container,
                         check=False).strip()  # fmt: skip
            check = json.loads(raw) if raw and raw != "null" else None
            if not check or not check.get("Test") or check["Test"][0] == "NONE":
                self.interval_seconds[container] = -1.0
            else:
                # Nanoseconds, as Docker's API gives them; Docker's default is 30 s.
                self.interval_seconds[container] = (check.get("Interval") or 30e9) / 1e9
        interval = self.interval_seconds[container]
        return None if interval < 0 else interval


@dataclass
class ComposeStack:
    """docker/compose.yaml up under a project name of its own, on free ports."""

    project: str
    directory: Path
    service: PodmanService
    gateway: str
    s3: str

    def compose(self, *args: str, timeout: float = UP_SECONDS) -> str:
        """Run `docker compose` on this project; its standard output."""
        env = {**podman_environment(), "DOCKER_HOST": self.service.docker_host,
               "COMPOSE_PROJECT_NAME": self.project}  # fmt: skip
        result = subprocess.run(
            [str(compose_binary()), "-f", str(COMPOSE_FILE), "-f",
             str(self.directory / "override.yaml"), *args],
            env=env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise AssertionError(f"compose {' '.join(args)}:\n{result.stdout}\n{result.stderr}")
        return result.stdout

    def up(self) -> None:
        """`up -d` from the images `make images` built (never a build or a pull here)."""
        self.compose("up", "--detach", "--no-build", "--pull=never")

    def down(self, *, volumes: bool = False) -> None:
        """`down`, keeping the named volumes unless told otherwise."""
        extra = ("--volumes",) if volumes else ()
        self.compose("down", "--timeout", "20", "--remove-orphans", *extra)

    def health(self) -> dict[str, str]:
        """Each service's state and health, as compose reports them."""
        out = self.compose("ps", "--all", "--format", "json")
        rows = [json.loads(line) for line in out.splitlines() if line.strip()]
        return {row["Service"]: f"{row['State']}/{row.get('Health') or '-'}" for row in rows}

    def logs(self) -> str:
        """Every service's log, for failure messages."""
        try:
            return self.compose("logs", "--no-color", "--tail", "40", timeout=120)
        except AssertionError as error:
            return str(error)

    def wait_until_serving(self, deadline: float = UP_SECONDS) -> None:
        """Until the gateway answers for the functions (a 401 from auth is an answer)."""
        try:
            poll(lambda: _status(self.gateway + "/api/auth/me") == 401, "the compose gateway",
                 deadline)  # fmt: skip
            poll(lambda: _status(self.gateway + "/") == 200, "the web app", deadline)
        except AssertionError as error:
            raise AssertionError(f"{self.health()}\n{self.logs()}") from error

    def exec(self, service: str, *command: str) -> str:
        """Run a command in a service's container; its standard output."""
        # podman's own exec, not compose's: an exec session through the API socket leaves its
        # conmon process behind now and then (podman 4.3).
        container = self.compose("ps", "--quiet", service).strip()
        assert container, f"{service} is not running"
        return podman("exec", container, *command, timeout=120)

    def token(self, user: str) -> str:
        """A new API token for a user, created in the worker's container with the CLI."""
        created: list[str] = []

        def create() -> bool:
            # The CLI gives PostgreSQL a few seconds; a stack just up on two busy cores may
            # need more than one try.
            try:
                out = self.exec("worker", "mediavault", "token", "create", "--user", user)
            except AssertionError:
                return False
            created.append(out.strip().splitlines()[-1])
            return True

        poll(create, "an API token from the worker's container", 120)
        return created[0]


def _status(url: str) -> int:
    try:
        return httpx.get(url, timeout=5.0).status_code
    except httpx.HTTPError:
        return 0


@contextmanager
def compose_stack() -> Iterator[ComposeStack]:
    """podman's API, the healthcheck runner and the compose project; all gone at the end."""
    directory = make_shared_dir("mediavault-compose-")
    gateway_port, s3_port = free_port(), free_port()
    (directory / "override.yaml").write_text(override(gateway_port, s3_port))
    with nothing_left_behind(), podman_service(directory) as service:
        project = unique_name("mediavault-test")
        stack = ComposeStack(project, directory, service, f"http://127.0.0.1:{gateway_port}",
                             f"http://127.0.0.1:{s3_port}")  # fmt: skip
        checks = HealthChecks(project)
        checks.start()
        try:
            yield stack
        finally:
            checks.stop()
            try:
                stack.down(volumes=True)
            finally:
                remove_project(project)
                left = stop_conmon(project)
        assert not left, f"conmon processes left behind (killed): {left}"


def remove_project(project: str) -> None:
    """Whatever of the project `down` did not remove (when it failed), each by its id."""
    label = f"label=com.docker.compose.project={project}"
    for kind, listing in (("container", "ps"), ("volume", "volume"), ("network", "network")):
        args = ("--all",) if kind == "container" else ("ls",)
        found = podman(listing, *args, "--filter", label, "--quiet", check=False).split()
        if found:
            podman(kind, "rm", "--force", *found, check=False)
