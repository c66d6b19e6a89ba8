"""scripts/kube_sandbox.py as the README runs it: start, use with kubectl, stop leaving nothing."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from mediavault.devstack.kubecluster import NODE_NAME
from tests.infra_fixtures import ROOT
from tests.k8s_fixtures import tools_dir


def _sandbox(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "kube_sandbox.py"), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=180,
    )


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_start_serves_kubectl_and_stop_ends_every_process(tmp_path: Path) -> None:
    base = tmp_path / "sandbox"
    started = _sandbox("start", "--dir", str(base))
    assert started.returncode == 0, started.stdout + started.stderr
    pids: dict[str, int] = json.loads((base / "pids.json").read_text())
    try:
        assert f"export KUBECONFIG={base / 'kubeconfig'}" in started.stdout
        assert set(pids) == {
            "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok",
        }  # fmt: skip
        nodes = subprocess.run(
            [str(tools_dir() / "bin" / "kubectl"), f"--kubeconfig={base / 'kubeconfig'}",
             "get", "nodes", "-o", "jsonpath={.items[*].metadata.name}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        assert nodes == NODE_NAME
        again = _sandbox("start", "--dir", str(base))
        assert again.returncode == 1
        assert "already runs" in again.stdout
    finally:
        stopped = _sandbox("stop", "--dir", str(base))
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert not any(_running(pid) for pid in pids.values())
    assert not base.exists()


def test_up_without_a_sandbox_says_start_first(tmp_path: Path) -> None:
    result = _sandbox("up", "--dir", str(tmp_path / "none"))
    assert result.returncode == 1
    assert "`start` one first" in result.stdout
