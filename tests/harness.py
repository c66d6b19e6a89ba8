"""Real services for the test suite: started on free loopback ports, stopped by their pid."""

from __future__ import annotations

import asyncio
import os
import random
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from mediavault.config import Settings
from mediavault.devstack.layout import Binaries, StackLayout, default_tools_dir
from mediavault.devstack.services import (
    ServiceSpec,
    ensure_database,
    function_specs,
    gateway_spec,
    infrastructure,
    init_postgres_cluster,
    remove_postgres_cluster,
    url_ok,
    wait_until,
)
from mediavault.provision import initialize
from mediavault.routes import FUNCTIONS

DEADLINE_SECONDS = 60.0


def free_port() -> int:
    """A TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def function_ports() -> int:
    """The first of the functions' consecutive ports, all free, below the ephemeral range."""
    # free_port() draws from the ephemeral range, where any outgoing connection may take the
    # next five ports before the functions bind them; no connection is given a port below it.
    with open("/proc/sys/net/ipv4/ip_local_port_range") as ports:
        ephemeral_start = int(ports.read().split()[0])
    low, high = 20000, min(ephemeral_start, 32768) - len(FUNCTIONS)
    while True:
        first = random.randrange(low, high)  # noqa: S311  (not a secret)
        if all(_bindable(first + offset) for offset in range(len(FUNCTIONS))):
            return first


def _bindable(port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def poll(check: Callable[[], bool], what: str, deadline_seconds: float = DEADLINE_SECONDS) -> None:
    """Wait for a condition under a deadline (never a bare sleep)."""
    wait_until(check, deadline_seconds, what)


def make_shared_dir(prefix: str) -> Path:
    """A temp dir for a throwaway stack, readable by the services' users (root's are private)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o755)
    return path


def stack_environment(base_dir: Path) -> dict[str, str]:
    """Application settings for a test stack: every port free, nothing shared with `make dev`."""
    return {
        "MEDIAVAULT_ENV": "development",
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": str(free_port()),
        "POSTGRES_DB": "mediavault_test",
        "S3_ENDPOINT": f"127.0.0.1:{(minio := free_port())}",
        # Another spelling of the same server: proves URLs are signed for the public host.
        "S3_PUBLIC_URL": f"http://localhost:{minio}",
        "S3_BUCKET": "mediavault-test",
        "NSQD_TCP_ADDRESS": f"127.0.0.1:{free_port()}",
        "NSQD_HTTP_ADDRESS": f"127.0.0.1:{free_port()}",
        "NSQLOOKUPD_HTTP_ADDRESSES": f"127.0.0.1:{free_port()}",
        "NSQ_TOPIC": "mediavault-uploads-test",
        "API_BASE_URL": f"http://127.0.0.1:{free_port()}",
        "MEDIAVAULT_DEV_DIR": str(base_dir),
        "MEDIAVAULT_DEV_FUNCTIONS_PORT": str(function_ports()),
        "MEDIAVAULT_DEV_LOOKUPD_TCP_PORT": str(free_port()),
        "MEDIAVAULT_DEV_MINIO_CONSOLE_PORT": str(free_port()),
        # Every test signs in from the same loopback address: the suite is not one abuser.
        "SIGNIN_STARTS_PER_CLIENT": "1000000",
        "HOME": str(base_dir),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
    }


def layout_for(env: Mapping[str, str]) -> StackLayout:
    """The stack layout of a test environment (no fsync: the data is thrown away)."""
    layout = StackLayout.from_env(Settings.from_env(env), env)
    return StackLayout(**{**layout.__dict__, "fast_and_unsafe": True})


def binaries() -> Binaries:
    """The programs `make test` installed (the tools dir is read from the real environment)."""
    return Binaries.locate(default_tools_dir(os.environ))


@dataclass
class RunningProcess:
    """A process the tests started, with its log file."""

    spec: ServiceSpec
    process: subprocess.Popen[bytes]
    log_path: Path

    def stop(self, timeout: float = 20.0) -> None:
        """The service's stop signal to its own process group, SIGKILL if it lingers."""
        if self.process.poll() is not None:
            return
        os.killpg(self.process.pid, self.spec.stop_signal)
        try:
            self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout)

    def log_tail(self, lines: int = 30) -> str:
        """The end of the process's output, for failure messages."""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])


@dataclass
class ProcessGroup:
    """Processes started by one fixture; stopped in reverse order."""

    log_dir: Path
    env: Mapping[str, str]
    running: dict[str, RunningProcess] = field(default_factory=dict)

    def start(self, spec: ServiceSpec, wait: bool = True) -> RunningProcess:
        """Start one service and, if it has a readiness URL, wait for it."""
        log_path = self.log_dir / f"{spec.name}.log"
        log: IO[bytes] = log_path.open("ab")
        process = subprocess.Popen(
            spec.argv,
            env={**self.env, **spec.env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        running = RunningProcess(spec, process, log_path)
        self.running[spec.name] = running
        if wait and spec.ready_url is not None:
            url = spec.ready_url
            try:
                # A process that exits while starting fails at once, not at the deadline.
                wait_until(
                    lambda: process.poll() is not None or url_ok(url, spec.ready_status),
                    DEADLINE_SECONDS,
                    spec.name,
                )
            except Exception as error:
                raise AssertionError(f"{spec.name} did not start:\n{running.log_tail()}") from error
            if process.poll() is not None:
                raise AssertionError(f"{spec.name} exited:\n{running.log_tail()}")
        return running

    def stop_all(self) -> None:
        """Stop everything this group started."""
        for running in reversed(list(self.running.values())):
            running.stop()
        self.running.clear()


class NsqCollector:
    """A pynsq Reader on its own tornado IOLoop thread, keeping every message body it receives."""

    def __init__(self, nsqd_tcp_address: str, topic: str, channel: str) -> None:
        self.bodies: list[bytes] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: Any = None
        self._thread = threading.Thread(
            target=self._run, args=(nsqd_tcp_address, topic, channel), daemon=True
        )
        self._thread.start()
        if not self._ready.wait(DEADLINE_SECONDS):
            raise AssertionError("the NSQ reader did not start")

    def _run(self, address: str, topic: str, channel: str) -> None:
        import nsq
        import tornado.ioloop

        asyncio.set_event_loop(asyncio.new_event_loop())
        self._loop = tornado.ioloop.IOLoop.current()
        self._reader = nsq.Reader(
            topic=topic,
            channel=channel,
            nsqd_tcp_addresses=[address],
            message_handler=self._handle,
            max_in_flight=10,
        )
        self._loop.add_callback(self._ready.set)
        self._loop.start()

    def _handle(self, message: Any) -> bool:
        with self._lock:
            self.bodies.append(bytes(message.body))
        return True

    def snapshot(self) -> list[bytes]:
        """The bodies received so far."""
        with self._lock:
            return list(self.bodies)

    def close(self) -> None:
        """Stop the reader and its loop."""
        loop = self._loop

        def shutdown() -> None:
            self._reader.close()
            loop.stop()

        loop.add_callback(shutdown)
        self._thread.join(10)


@contextmanager
def nsq_collector(address: str, topic: str, channel: str) -> Iterator[NsqCollector]:
    """An NsqCollector that is always closed."""
    collector = NsqCollector(address, topic, channel)
    try:
        yield collector
    finally:
        collector.close()


@dataclass
class Stack:
    """A running throwaway stack: its environment, settings and processes."""

    env: dict[str, str]
    settings: Settings
    layout: StackLayout
    binaries: Binaries
    processes: ProcessGroup


@contextmanager
def running_stack(prefix: str) -> Iterator[Stack]:
    """PostgreSQL, nsqlookupd, nsqd and MinIO on free ports, initialised, removed afterwards."""
    base = make_shared_dir(prefix)
    env = stack_environment(base)
    layout = layout_for(env)
    tools = binaries()
    init_postgres_cluster(layout, tools)
    processes = ProcessGroup(base, env)
    try:
        for spec in infrastructure(layout, tools):
            processes.start(spec)
        ensure_database(layout)
        initialize(layout.settings, layout.provision)
        yield Stack(env, layout.settings, layout, tools, processes)
    finally:
        processes.stop_all()
        remove_postgres_cluster(layout)
        shutil.rmtree(base, ignore_errors=True)


def answers(url: str) -> bool:
    """True once the URL gives a real answer (not a gateway's 502/503)."""
    import httpx

    try:
        return httpx.get(url, timeout=5.0).status_code in (200, 401, 404)
    except httpx.HTTPError:
        return False


@contextmanager
def functions_behind_gateway(
    stack: Stack,
    env: Mapping[str, str],
    probes: tuple[str, ...],
    *,
    only: tuple[str, ...] | None = None,
    deadline_seconds: float = DEADLINE_SECONDS,
) -> Iterator[None]:
    """The functions (all, or `only` these) and the gateway on `env`'s API_BASE_URL, until exit."""
    layout = layout_for(env)
    log_dir = stack.layout.data_dir / f"functions-{os.urandom(3).hex()}"
    log_dir.mkdir()
    processes = ProcessGroup(log_dir, dict(env))
    try:
        for spec in function_specs(layout, stack.binaries):
            if only is None or spec.name.removeprefix("fn-") in only:
                processes.start(spec, wait=False)
        processes.start(gateway_spec(layout, stack.binaries), wait=False)
        base = env["API_BASE_URL"]
        for path in probes:
            poll(lambda p=path: answers(base + p), f"{path} through the gateway", deadline_seconds)  # type: ignore[misc]
        yield
    finally:
        processes.stop_all()


def function_client(stack: Stack, name: str, **environ: str) -> Any:
    """A function's Flask test client, its settings read from the stack's environment."""
    import pytest
    from functions_framework import create_app

    source = Path(__file__).resolve().parent.parent / "functions" / name / "main.py"
    with pytest.MonkeyPatch.context() as patch:  # the function reads its settings at import
        for variable, value in {**stack.env, **environ}.items():
            patch.setenv(variable, value)
        app: Any = create_app(name, str(source))  # type: ignore[no-untyped-call]
        return app.test_client()
