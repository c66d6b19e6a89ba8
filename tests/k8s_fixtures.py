"""Fixtures of the real-API tests: one throwaway Kubernetes API server for the session."""

from __future__ import annotations

import base64
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from mediavault.devstack.kubecluster import (
    KubeCluster,
    KubeTools,
    start_cluster,
    stop_cluster,
)
from mediavault.devstack.kubeplatform import install_platform_stubs
from mediavault.devstack.layout import default_tools_dir

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

KWOK_STAGES = Path(__file__).resolve().parent / "kwok"
# tests/kwok/pod-fail.yaml makes the pod of this media's Job fail (exit code 1).
FAILING_MEDIA_ID = "00000000-0000-4000-8000-00000000fa11"


def tools_dir() -> Path:
    """Where scripts/install.sh keeps the built tools."""
    return default_tools_dir(os.environ)


@pytest.fixture(scope="session")
def kube_cluster() -> Iterator[KubeCluster]:
    """etcd, kube-apiserver, controller-manager, scheduler and kwok on free loopback ports."""
    tools = KubeTools.locate(tools_dir())
    base = Path(tempfile.mkdtemp(prefix="mediavault-kube-"))
    cluster = start_cluster(tools, base, extra_stages=sorted(KWOK_STAGES.glob("*.yaml")))
    try:
        install_platform_stubs(cluster)
        yield cluster
    finally:
        stop_cluster(base)
        shutil.rmtree(base, ignore_errors=True)


def condition(obj: dict[str, Any] | None, kind: str) -> bool:
    """The object has condition `kind` with status True."""
    conditions = (obj or {}).get("status", {}).get("conditions") or []
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


def decoded(secret: dict[str, Any]) -> dict[str, str]:
    """A Secret's data, decoded."""
    return {key: base64.b64decode(value).decode() for key, value in secret["data"].items()}


def service_account_client(cluster: KubeCluster, namespace: str, account: str) -> ApiClient:
    """A kubernetes ApiClient that authenticates as a ServiceAccount (a TokenRequest's token)."""
    from kubernetes.client import ApiClient, Configuration

    request = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": 3600},
    }
    with cluster.client() as client:
        response = client.post(
            f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token", json=request
        )
    response.raise_for_status()
    configuration = Configuration(
        host=cluster.server,
        api_key={"authorization": response.json()["status"]["token"]},
        api_key_prefix={"authorization": "Bearer"},
    )
    configuration.ssl_ca_cert = str(cluster.certs.ca_cert)
    return ApiClient(configuration)
