"""The decoders' sandbox, seen from inside a decoder started the way a job starts ffmpeg."""

from __future__ import annotations

import json
import logging
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from processing.confinement import Confinement, probe_confinement
from processing.errors import ProcessingError, TransientProcessingError
from processing.limits import Limits
from processing.runner import run_ffmpeg

CREDENTIALS = {
    "S3_ACCESS_KEY": "AKIAEXAMPLE", "S3_SECRET_KEY": "s3-secret-value",
    "MINIO_ROOT_PASSWORD": "minio-root-secret", "POSTGRES_PASSWORD": "pg-secret-value",
    "SESSION_SECRET": "session-secret-value", "DATABASE_URL": "postgresql://u:pg-secret@h/db",
}  # fmt: skip
ROOT = Path(__file__).resolve().parent.parent
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="the full sandbox needs a root worker")

# Started in place of ffmpeg (run_ffmpeg adds its -nostdin … words first): what it finds, as
# JSON on stderr, where run_ffmpeg keeps the tail of the output.
CHECKER = """
import ctypes, json, os, socket, sys

args = sys.argv[sys.argv.index("--check") + 1:]
port, source, secret, targets = int(args[0]), args[1], args[2], args[3:]


def attempt(action):
    try:
        action()
    except OSError as error:
        return f"refused: {error.strerror or error}"
    return "done"


def write(path):
    with open(path, "w") as file:
        file.write("planted")


def connect():
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        pass


def enter_network():
    libc = ctypes.CDLL(None, use_errno=True)
    handle = os.open("/proc/self/ns/net", os.O_RDONLY)
    if libc.setns(handle, 0) != 0:
        raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))


status = {}
for line in open("/proc/self/status"):
    key, _, value = line.partition(":")
    status[key] = value.split()
report = {
    "environ": open("/proc/self/environ", "rb").read().decode("utf-8", "replace"),
    "status": status,
    "input": open(source).read(),
    "connect": attempt(connect),
    "setns": attempt(enter_network),
    "writes": {target: attempt(lambda target=target: write(target)) for target in targets},
    "link": attempt(lambda: os.symlink(secret, os.path.dirname(targets[0]) + "/hevc.mp4")),
}
sys.stderr.write(json.dumps(report) + "\\n")
"""


@pytest.fixture(scope="module")
def confinement() -> Confinement:
    """What the worker's start-up finds on this machine."""
    return probe_confinement()


@pytest.fixture
def loopback() -> Iterator[socket.socket]:
    """A listening TCP port on loopback (a connect succeeds without an accept)."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        yield server


def _job(tmp_path: Path) -> tuple[Path, Path, Path]:
    """A job's scratch: the original, an output directory, and the fake ffmpeg."""
    scratch = tmp_path / "job"
    out = scratch / "video"
    out.mkdir(parents=True)
    source = scratch / "original"
    source.write_text("the upload's bytes")
    checker = tmp_path / "bin" / "ffmpeg"
    checker.parent.mkdir()
    checker.write_text(f"#!{sys.executable} -I\n{CHECKER}")
    checker.chmod(0o755)
    return source, out, checker


@ROOT_ONLY
def test_a_decoder_has_no_credentials_network_privileges_or_writes_outside_its_output(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    loopback: socket.socket,
    confinement: Confinement,
) -> None:
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)  # the worker holds them; its decoders must not
    source, out, checker = _job(tmp_path)
    planted = [source.parent / "planted", Path(f"/tmp/planted-{uuid.uuid4().hex}"),
               Path("/root/planted"), tmp_path / "planted"]  # fmt: skip
    port = loopback.getsockname()[1]
    sandbox = Limits(confinement=confinement).sandbox_for(None)

    secret = tmp_path / "root-only"
    secret.write_text("root's secret")
    secret.chmod(0o600)
    stats = run_ffmpeg(
        [str(checker), "--check", str(port), str(source), str(secret), str(out / "made"),
         *map(str, planted)],
        timeout=60, sandbox=sandbox, reads=[source, checker], writes=[out],
    )  # fmt: skip

    report = json.loads(stats.stderr_tail.splitlines()[-1])
    environ = report["environ"]
    for name, value in CREDENTIALS.items():
        assert name not in environ
        assert value not in environ
    assert sorted(v.split("=")[0] for v in environ.split("\0") if v) == ["LANG", "PATH"]
    assert report["input"] == "the upload's bytes"
    assert report["connect"].startswith("refused")
    loopback.settimeout(0.5)
    with pytest.raises(TimeoutError):
        loopback.accept()  # nobody reached the port
    assert report["setns"].startswith("refused")
    status = report["status"]
    assert status["Uid"] == ["65534"] * 4
    assert status["Gid"] == ["65534"] * 4
    assert status["Groups"] == []
    for capabilities in ("CapEff", "CapPrm", "CapInh", "CapBnd", "CapAmb"):
        assert int(status[capabilities][0], 16) == 0, capabilities
    assert status["NoNewPrivs"] == ["1"]
    assert status["Seccomp"] == ["2"]
    assert report["writes"].pop(str(out / "made")) == "done"
    assert (out / "made").read_text() == "planted"
    assert (out / "made").stat().st_uid == os.geteuid()  # the worker's again, once it ended
    # A symlink left as an output would make the worker store what only root may read.
    assert report["link"] == "done"
    assert not (out / "hevc.mp4").is_symlink()
    for target, outcome in report["writes"].items():
        assert outcome.startswith("refused"), target
        assert not Path(target).exists(), target


@ROOT_ONLY
def test_ffmpeg_asked_for_a_url_reaches_no_network(
    loopback: socket.socket, confinement: Confinement
) -> None:
    port = loopback.getsockname()[1]
    args = ["ffmpeg", "-v", "error", "-i", f"http://127.0.0.1:{port}/x.mp4", "-f", "null", "-"]
    with pytest.raises(ProcessingError):
        run_ffmpeg(args, timeout=20, sandbox=Limits(confinement=confinement).sandbox_for(None))
    loopback.settimeout(0.5)
    with pytest.raises(TimeoutError):
        loopback.accept()


def test_each_protection_the_platform_refuses_is_logged_once_with_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="processing.confinement")
    found = probe_confinement(python="/nonexistent/python3")
    assert not found.seccomp
    assert not found.isolate
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    missing = [m for m in warnings if "/nonexistent/python3 is not installed" in m]
    assert len(missing) == 1
    assert "no seccomp filter and no namespaces" in missing[0]
    assert len(warnings) == len(set(warnings))  # each said once


# A worker that is not root (the container images, the Kubernetes Jobs): run as uid 10001 with
# Debian's python3, it starts a decoder that looks for its launcher's secrets and the network.
NON_ROOT_LAUNCHER = """
import json, os, subprocess, sys
from pathlib import Path

sys.path.insert(0, sys.argv[1])
from processing.confinement import probe_confinement
from processing.limits import Limits

folder = Path(sys.argv[2])
checker = folder / "checker.py"
checker.write_text(sys.argv[3])
sandbox = Limits(confinement=probe_confinement()).sandbox_for(None)
command = sandbox.command(["/usr/bin/python3", "-I", str(checker), str(os.getpid()), sys.argv[4]],
                          reads=[checker], writes=[folder])
done = subprocess.run(command, env=sandbox.env, capture_output=True, check=True)
sys.stdout.write(done.stdout.decode())
"""
NON_ROOT_CHECKER = """
import json, os, socket, sys

launcher, port = sys.argv[1], int(sys.argv[2])


def attempt(action):
    try:
        action()
    except OSError as error:
        return f"refused: {error.strerror or error}"
    return "done"


def connect():
    with socket.create_connection(("127.0.0.1", port), timeout=3):
        pass


status = {}
for line in open("/proc/self/status"):
    key, _, value = line.partition(":")
    status[key] = value.split()
print(json.dumps({
    "environ": open("/proc/self/environ", "rb").read().decode("utf-8", "replace"),
    "launcher": attempt(lambda: open(f"/proc/{launcher}/environ", "rb").read()),
    "connect": attempt(connect),
    "status": status,
}))
"""


@ROOT_ONLY
@pytest.mark.skipif(not os.access("/usr/bin/python3", os.X_OK), reason="no Debian python3")
def test_a_non_root_workers_decoders_still_get_no_credentials_nor_network(
    loopback: socket.socket,
) -> None:
    folder = Path(tempfile.mkdtemp(prefix="mediavault-non-root-"))
    try:
        os.chown(folder, 10001, 10001)
        launcher = subprocess.run(
            ["setpriv", "--reuid=10001", "--regid=10001", "--clear-groups", "--",
             "/usr/bin/python3", "-I", "-c", NON_ROOT_LAUNCHER, str(ROOT), str(folder),
             NON_ROOT_CHECKER, str(loopback.getsockname()[1])],
            env={"PATH": "/usr/bin:/bin", **CREDENTIALS}, capture_output=True, check=False,
            timeout=60,
        )  # fmt: skip
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert launcher.returncode == 0, launcher.stderr.decode()
    report = json.loads(launcher.stdout)
    for value in CREDENTIALS.values():
        assert value not in report["environ"]
    assert report["launcher"].startswith("refused")  # the worker is not dumpable
    assert report["connect"].startswith("refused")  # the seccomp filter: no AF_INET sockets
    loopback.settimeout(0.5)
    with pytest.raises(TimeoutError):
        loopback.accept()
    status = report["status"]
    assert status["Uid"][0] == "10001"
    assert int(status["CapEff"][0], 16) == 0
    assert status["NoNewPrivs"] == ["1"]
    assert status["Seccomp"] == ["2"]


@ROOT_ONLY
def test_a_sandbox_that_cannot_be_set_up_is_a_transient_failure(
    tmp_path: Path, confinement: Confinement
) -> None:
    if not confinement.isolate:
        pytest.skip("no namespaces here")
    # A system directory gone since start-up: the decoder's view cannot be built.
    broken = replace(confinement, base_reads=(*confinement.base_reads, str(tmp_path / "gone")))
    sandbox = Limits(confinement=broken).sandbox_for(None)
    with pytest.raises(TransientProcessingError, match="decoder sandbox could not be set up"):
        run_ffmpeg(["ffmpeg", "-version"], timeout=30, sandbox=sandbox)
