"""The processes of the local stack: how each is started and how to tell it is ready."""

from __future__ import annotations

import logging
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import httpx

from mediavault.devstack.layout import PROJECT_ROOT, Binaries, StackLayout
from mediavault.errors import MediaVaultError
from mediavault.routes import FUNCTIONS

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ServiceSpec:
    """One long-running process of the stack."""

    name: str
    argv: tuple[str, ...]
    ready_url: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    ready_status: int = 200
    stop_signal: int = signal.SIGTERM
    # Run before each start, a restart after a crash included.
    before_start: Callable[[], None] | None = None


def _host_port(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def as_postgres_user() -> tuple[str, ...]:
    """PostgreSQL refuses to run as root: drop to the `postgres` user (exec, no extra process)."""
    if os.geteuid() != 0:
        return ()
    return ("setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--")


def postgres_data_dir(layout: StackLayout) -> Path:
    """The cluster's directory: `.dev/postgres`, or where that link points (see below)."""
    link = layout.data_dir / "postgres"
    return Path(os.readlink(link)) if link.is_symlink() else link


def _postgres_home_dir(layout: StackLayout) -> Path:
    """As root: a new directory owned by `postgres` in its home, which it can reach from /."""
    # The server runs as `postgres`, which may not traverse the clone's directories (a home is
    # often private); rather than open them, the cluster lives under the `postgres` user's home
    # (Debian's /var/lib/postgresql) and `.dev/postgres` links to it.
    postgres = pwd.getpwnam("postgres")
    parent = Path(postgres.pw_dir) / "mediavault"
    parent.mkdir(mode=0o755, exist_ok=True)
    # Named after the clone (or a test stack's directory), to tell whose it is.
    owner = layout.data_dir.parent if layout.data_dir.name == ".dev" else layout.data_dir
    home = Path(tempfile.mkdtemp(prefix=f"{owner.name}-", dir=parent))
    shutil.chown(home, postgres.pw_uid, postgres.pw_gid)
    return home


def init_postgres_cluster(layout: StackLayout, binaries: Binaries) -> bool:
    """initdb the stack's cluster once, owned by the user the server runs as; True if created."""
    data = postgres_data_dir(layout)
    if (data / "PG_VERSION").exists():
        return False
    if os.geteuid() != 0:
        data.mkdir(parents=True, exist_ok=True)
        _initdb(layout, binaries, data, layout.data_dir / "postgres.pw")
        return True
    link = layout.data_dir / "postgres"
    if link.is_symlink() and data.parent.is_dir():
        home = data.parent  # a first run that stopped before initdb finished
    else:
        if link.is_symlink():
            link.unlink()
        elif link.exists():
            link.rmdir()  # an empty directory left by an older version; never a cluster
        home = _postgres_home_dir(layout)
        data = home / "data"
        link.symlink_to(data)
    shutil.rmtree(data, ignore_errors=True)
    _initdb(layout, binaries, data, home / "initdb.pw")
    return True


def _initdb(layout: StackLayout, binaries: Binaries, data: Path, password_file: Path) -> None:
    password_file.write_text(layout.settings.database.password + "\n")
    if os.geteuid() == 0:
        postgres = pwd.getpwnam("postgres")
        shutil.chown(password_file, postgres.pw_uid, postgres.pw_gid)
    try:
        subprocess.run(
            [
                *as_postgres_user(),
                str(binaries.postgres_bin / "initdb"),
                "--pgdata", str(data),
                "--username", layout.settings.database.user,
                "--pwfile", str(password_file),
                "--auth-host", "scram-sha-256",
                "--auth-local", "scram-sha-256",
                "--encoding", "UTF8",
                "--no-locale",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
            text=True,
        )  # fmt: skip
    except subprocess.CalledProcessError as error:
        raise MediaVaultError(f"initdb failed: {error.stderr.strip()}") from error
    finally:
        password_file.unlink()


def remove_stale_postmaster_pid(data: Path) -> None:
    """Remove the lock file a killed server left, unless a server on `data` runs under its pid."""
    # The server removes a stale file itself, unless its pid was given to another program
    # since (pids are reused quickly in a container): then it refuses to start, forever.
    lock = data / "postmaster.pid"
    try:
        pid = lock.read_text().split("\n", 1)[0].strip()
    except FileNotFoundError:
        return
    if pid.isdigit() and _serves(int(pid), data):
        return
    lock.unlink(missing_ok=True)
    logger.info("removed %s, left by a server that is gone (pid %s)", lock, pid or "none")


def _serves(pid: int, data: Path) -> bool:
    """True when the process is a server of this cluster (it works in its data directory)."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd")) == data.resolve()
    except OSError:  # gone, or another user's: not a server of a cluster we own
        return False


def remove_postgres_cluster(layout: StackLayout) -> None:
    """Delete the cluster's files, wherever they live (for throwaway stacks: the tests')."""
    link = layout.data_dir / "postgres"
    if link.is_symlink():
        shutil.rmtree(postgres_data_dir(layout).parent, ignore_errors=True)
        link.unlink()
    else:
        shutil.rmtree(link, ignore_errors=True)


def ensure_database(layout: StackLayout, deadline_seconds: float = 60.0) -> None:
    """Create the application's database in the cluster when it is missing."""
    import psycopg
    from psycopg import sql

    db = layout.settings.database
    conninfo = psycopg.conninfo.make_conninfo(
        host=db.host, port=db.port, user=db.user, password=db.password, dbname="postgres"
    )
    wait_until(lambda: _can_connect(conninfo), deadline_seconds, "PostgreSQL to accept connections")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (db.name,)).fetchone()
        if exists is None:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(db.name)))


def _can_connect(conninfo: str) -> bool:
    import psycopg

    try:
        psycopg.connect(conninfo, connect_timeout=2).close()
    except psycopg.OperationalError:
        return False
    return True


def infrastructure(layout: StackLayout, binaries: Binaries) -> list[ServiceSpec]:
    """PostgreSQL, nsqlookupd, nsqd and MinIO with its NSQ notification target."""
    settings = layout.settings
    data = layout.data_dir
    nsqd_host, nsqd_tcp = _host_port(settings.queue.nsqd_tcp_address)
    _, nsqd_http = _host_port(settings.queue.nsqd_http_address)
    _, lookupd_http = _host_port(settings.queue.lookupd_http_addresses[0])
    minio_host, minio_port = _host_port(settings.storage.endpoint)
    postgres_flags: tuple[str, ...] = ()
    if layout.fast_and_unsafe:
        postgres_flags = ("-c", "fsync=off", "-c", "synchronous_commit=off",
                          "-c", "full_page_writes=off")  # fmt: skip
    (data / "nsqd").mkdir(parents=True, exist_ok=True)
    (data / "minio").mkdir(parents=True, exist_ok=True)
    (data / "minio-events").mkdir(parents=True, exist_ok=True)
    return [
        ServiceSpec(
            "postgres",
            (
                *as_postgres_user(),
                str(binaries.postgres_bin / "postgres"),
                "-D", str(postgres_data_dir(layout)),
                "-h", settings.database.host,
                "-p", str(settings.database.port),
                "-k", "",  # TCP only: no socket file in a shared directory
                *postgres_flags,
            ),
            # SIGTERM is a "smart" shutdown that waits for pooled clients to leave; SIGINT is
            # the fast one: it disconnects them and stops cleanly.
            stop_signal=signal.SIGINT,
            before_start=partial(remove_stale_postmaster_pid, postgres_data_dir(layout)),
        ),
        ServiceSpec(
            "nsqlookupd",
            (
                str(binaries.nsqlookupd),
                f"--tcp-address=127.0.0.1:{layout.lookupd_tcp_port}",
                f"--http-address=127.0.0.1:{lookupd_http}",
                "--broadcast-address=127.0.0.1",
            ),
            ready_url=f"http://127.0.0.1:{lookupd_http}/ping",
        ),
        ServiceSpec(
            "nsqd",
            (
                str(binaries.nsqd),
                f"--data-path={data / 'nsqd'}",
                f"--tcp-address={nsqd_host}:{nsqd_tcp}",
                f"--http-address={nsqd_host}:{nsqd_http}",
                "--broadcast-address=127.0.0.1",
                f"--lookupd-tcp-address=127.0.0.1:{layout.lookupd_tcp_port}",
                "--max-msg-timeout=1h",
                # Messages only on disk, written through with their queue positions: a killed
                # nsqd loses none (a position synced only every 2 s would lose the last ones).
                "--mem-queue-size=0",
                "--sync-every=1",
            ),
            ready_url=f"http://{nsqd_host}:{nsqd_http}/ping",
        ),
        ServiceSpec(
            "minio",
            (
                str(binaries.minio), "server", str(data / "minio"),
                "--address", f"{minio_host}:{minio_port}",
                "--console-address", f"127.0.0.1:{layout.minio_console_port}",
                "--quiet",
            ),
            ready_url=f"http://{minio_host}:{minio_port}/minio/health/live",
            env={
                "MINIO_ROOT_USER": layout.provision.root.access_key,
                "MINIO_ROOT_PASSWORD": layout.provision.root.secret_key,
                "MINIO_UPDATE": "off",
                "MINIO_NOTIFY_NSQ_ENABLE": "on",
                "MINIO_NOTIFY_NSQ_NSQD_ADDRESS": settings.queue.nsqd_tcp_address,
                "MINIO_NOTIFY_NSQ_TOPIC": settings.queue.topic,
                "MINIO_NOTIFY_NSQ_QUEUE_DIR": str(data / "minio-events"),
            },
        ),
    ]  # fmt: skip


def dev_oauth_spec(layout: StackLayout, binaries: Binaries) -> ServiceSpec | None:
    """The development OAuth2 provider, when no Discord application is configured."""
    if layout.settings.auth.discord_client_id:
        return None
    port = layout.dev_oauth_port
    return ServiceSpec(
        "dev-discord",
        (str(binaries.python_bin / "mediavault"), "dev-discord", f"--port={port}"),
        ready_url=f"http://127.0.0.1:{port}/oauth2/authorize",
        ready_status=400,  # it answers a request without a client id with a 400: it is up
    )


def _function_env(layout: StackLayout) -> dict[str, str]:
    from mediavault.devstack.oauth import provider_environment

    if layout.settings.auth.discord_client_id:
        return {}
    return provider_environment(f"http://127.0.0.1:{layout.dev_oauth_port}")


def runtime_dir(layout: StackLayout, name: str) -> Path:
    """A function's own XDG_RUNTIME_DIR, where gunicorn puts its control socket (if it exists)."""
    # Six gunicorns sharing the default ($HOME/.gunicorn) log an ERROR for each after the first.
    return layout.data_dir / "run" / name


def function_specs(layout: StackLayout, binaries: Binaries) -> list[ServiceSpec]:
    """Every function, each started exactly as its container starts it."""
    env = _function_env(layout)
    return [
        ServiceSpec(
            f"fn-{name}",
            (
                str(binaries.python_bin / "functions-framework"),
                "--source", str(PROJECT_ROOT / "functions" / name / "main.py"),
                "--target", name,
                "--host", "127.0.0.1",
                "--port", str(layout.function_port(name)),
            ),
            ready_url=f"{layout.function_url(name)}/healthz",
            env={**env, "XDG_RUNTIME_DIR": str(runtime_dir(layout, name))},
        )
        for name in FUNCTIONS
    ]  # fmt: skip


def worker_spec(layout: StackLayout, binaries: Binaries) -> ServiceSpec:
    """The processing worker, as its Deployment runs it."""
    processing = layout.settings.processing
    return ServiceSpec(
        "worker",
        (str(binaries.python_bin / "mediavault"), "worker"),
        ready_url=f"http://{processing.host}:{processing.port}/healthz",
        env=layout.worker_env(),
    )


# How often the local stack's reconcile pass runs (Kubernetes runs it as a CronJob).
RECONCILE_EVERY_SECONDS = 60


def reconcile_spec(layout: StackLayout, binaries: Binaries) -> ServiceSpec:
    """`mediavault reconcile` on a schedule, with the worker's storage account."""
    return ServiceSpec(
        "reconcile",
        (str(binaries.python_bin / "mediavault"), "reconcile",
         f"--every={RECONCILE_EVERY_SECONDS}"),
        env=layout.worker_env(),
    )  # fmt: skip


def gateway_spec(layout: StackLayout, binaries: Binaries) -> ServiceSpec:
    """The local gateway in front of the functions."""
    host, port = layout.gateway_address
    upstreams = [f"--upstream={name}={layout.function_url(name)}" for name in FUNCTIONS]
    return ServiceSpec(
        "gateway",
        (
            str(binaries.python_bin / "mediavault"),
            "gateway",
            f"--host={host}",
            f"--port={port}",
            *upstreams,
        ),
    )


def wait_until(check: Callable[[], bool], deadline_seconds: float, what: str) -> None:
    """Poll a condition until it holds; raise naming what never happened."""
    deadline = time.monotonic() + deadline_seconds
    while not check():
        if time.monotonic() > deadline:
            raise MediaVaultError(f"timed out after {deadline_seconds:.0f}s waiting for {what}")
        time.sleep(0.1)


def url_ok(url: str, status: int = 200) -> bool:
    """True when a GET of the URL answers with that status (200 unless told)."""
    try:
        return httpx.get(url, timeout=2.0).status_code == status
    except httpx.HTTPError:
        return False


def wait_ready(spec: ServiceSpec, deadline_seconds: float = 60.0) -> None:
    """Block until a service's readiness URL answers 200."""
    if spec.ready_url is not None:
        url, status = spec.ready_url, spec.ready_status
        wait_until(lambda: url_ok(url, status), deadline_seconds, f"{spec.name} at {url}")
