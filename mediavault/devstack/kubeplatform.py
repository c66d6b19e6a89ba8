"""What a throwaway cluster gets of a platform with Knative and Istio: CRDs and namespaces."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from mediavault.devstack.kubecluster import KubeCluster

CRDS_DIR = Path(__file__).resolve().parent / "crds"
# Namespaces a cluster with Knative and Istio has; their controllers need a container runtime.
PLATFORM_NAMESPACES = ("istio-system", "knative-serving")


def install_crds(cluster: KubeCluster, files: Iterable[Path], deadline_seconds: float = 60) -> None:
    """Apply CustomResourceDefinitions and wait until the API server serves each."""
    paths = list(files)
    for path in paths:
        cluster.apply(path.read_text())
    names = cluster.kubectl("get", "crd", "-o", "name").split()
    cluster.kubectl("wait", "--for=condition=Established", f"--timeout={deadline_seconds:.0f}s",
                    *names)  # fmt: skip


def install_platform_stubs(cluster: KubeCluster) -> None:
    """What MediaVault expects of a cluster that runs Knative with Istio, minus their controllers.

    The CRDs of the custom resources it creates (mediavault/devstack/crds) and the platform's
    namespaces: enough for the API server to validate and store every object of the stack.
    """
    install_crds(cluster, sorted(CRDS_DIR.glob("*.yaml")))
    namespaces = [
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
        for name in PLATFORM_NAMESPACES
    ]
    cluster.apply(json.dumps({"apiVersion": "v1", "kind": "List", "items": namespaces}))
