"""`mediavault dev` (what `make dev` runs): a first start, a second one beside it, its data."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from mediavault.devstack.guard import in_use, only_stack
from mediavault.devstack.services import (
    as_postgres_user,
    ensure_database,
    infrastructure,
    init_postgres_cluster,
    postgres_data_dir,
    remove_postgres_cluster,
)
from mediavault.errors import MediaVaultError
from tests.devstack_fixtures import MEDIAVAULT, dev_environment, start_dev
from tests.harness import ProcessGroup, binaries, layout_for, make_shared_dir, poll

ROOT = Path(__file__).resolve().parent.parent


def run_dev(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`mediavault dev` expected to refuse to start: its exit code and output."""
    process = subprocess.Popen(
        [MEDIAVAULT, "dev"], env=env, text=True, start_new_session=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    try:
        out, err = process.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # it started a stack after all: end it all
        process.communicate()
        raise
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.fixture
def clone() -> Iterator[Path]:
    """A private directory standing for a clone (mode 0700, like a home directory)."""
    base = make_shared_dir("mediavault-clone-")
    base.chmod(0o700)
    try:
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_a_first_start_comes_up_and_a_second_beside_it_is_refused_plainly(clone: Path) -> None:
    assert (ROOT / "web" / "build" / "index.html").is_file(), "make test builds web/ first"
    data_dir = clone / ".dev"
    env = dev_environment(data_dir)
    layout = layout_for(env)
    log = clone / "dev.log"
    first = start_dev(env, log)
    try:
        # A fresh data directory: the worker and reconcile start only once the tables exist.
        poll(
            lambda: first.poll() is not None or "MediaVault is up" in log.read_text(),
            "the stack's banner",
            180,
        )
        assert first.poll() is None, log.read_text()[-3000:]
        assert httpx.get(env["API_BASE_URL"] + "/api/auth/me").status_code == 401

        second = run_dev(env)
        assert second.returncode == 1
        assert f"already running from {data_dir} (pid {first.pid})" in second.stderr
        assert "Traceback" not in second.stderr

        lines = log.read_text().splitlines()
        assert not [line for line in lines if "ERROR" in line]
        # Terminal colours inside JSON log lines (escaped by json.dumps, or raw).
        assert not [line for line in lines if "\\u001b" in line or "\x1b[" in line]
    finally:
        first.send_signal(signal.SIGINT)  # Ctrl-C
        try:
            first.wait(60)
        finally:
            if first.poll() is None:
                os.killpg(first.pid, signal.SIGKILL)
            remove_postgres_cluster(layout)
    busy = [f"{what} {address}" for what, address in layout.ports().items() if in_use(*address)]
    assert not busy, busy


def test_ports_in_use_are_named_before_anything_starts(clone: Path) -> None:
    env = dev_environment(clone / ".dev")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env["API_BASE_URL"] = f"http://127.0.0.1:{port}"
        result = run_dev(env)
    assert result.returncode == 1
    assert f"gateway (API_BASE_URL) 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (clone / ".dev" / "postgres").exists()  # refused before anything was made


def test_the_lock_goes_with_the_process_that_held_it(clone: Path) -> None:
    layout = layout_for(dev_environment(clone / ".dev"))
    with only_stack(layout), pytest.raises(MediaVaultError, match="already running"):  # noqa: SIM117
        with only_stack(layout):
            pass
    with only_stack(layout):  # released: a stale lock file blocks nothing
        assert (layout.data_dir / "dev.lock").read_text().strip() == str(os.getpid())


def _modes(path: Path) -> dict[Path, int]:
    return {p: stat.S_IMODE(p.stat().st_mode) for p in [path, *path.parents]}


def test_the_cluster_runs_without_opening_the_directories_above_it(clone: Path) -> None:
    layout = layout_for(dev_environment(clone / ".dev"))
    layout.data_dir.mkdir()
    before = _modes(layout.data_dir)
    processes = ProcessGroup(clone, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    try:
        assert init_postgres_cluster(layout, binaries())
        data = postgres_data_dir(layout)
        if os.geteuid() == 0:
            # Root: the server's user could not enter the clone; the cluster lives in its home.
            assert (layout.data_dir / "postgres").is_symlink()
            assert data.owner() == "postgres"
            assert clone not in data.parents
        else:
            assert data == layout.data_dir / "postgres"
        [postgres] = [s for s in infrastructure(layout, binaries()) if s.name == "postgres"]
        processes.start(postgres)
        ensure_database(layout)
        assert not init_postgres_cluster(layout, binaries())  # the second start reuses it
    finally:
        processes.stop_all()
        remove_postgres_cluster(layout)
    assert _modes(layout.data_dir) == before
    assert not data.exists()


def test_a_killed_servers_lock_file_does_not_keep_postgresql_down(clone: Path) -> None:
    layout = layout_for(dev_environment(clone / ".dev"))
    layout.data_dir.mkdir()
    processes = ProcessGroup(clone, {"PATH": os.environ.get("PATH", "/usr/bin:/bin")})
    # Another program of the server's user (PostgreSQL cannot tell it from a server).
    other = subprocess.Popen([*as_postgres_user(), "sleep", "600"])
    try:
        init_postgres_cluster(layout, binaries())
        [postgres] = [s for s in infrastructure(layout, binaries()) if s.name == "postgres"]
        processes.start(postgres)
        ensure_database(layout)
        os.killpg(processes.running["postgres"].process.pid, signal.SIGKILL)
        processes.running["postgres"].process.wait()
        # The pid it names now belongs to another program, as pids are reused after a crash.
        lock = postgres_data_dir(layout) / "postmaster.pid"
        _, rest = lock.read_text().split("\n", 1)
        lock.write_text(f"{other.pid}\n{rest}")

        assert postgres.before_start is not None
        postgres.before_start()
        processes.start(postgres)
        ensure_database(layout, deadline_seconds=20)
    finally:
        other.kill()
        other.wait()
        processes.stop_all()
        remove_postgres_cluster(layout)
