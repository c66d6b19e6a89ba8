"""manifests/ passes a real API server: `kubectl apply --server-side --dry-run=server`."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml

from mediavault.devstack.kubecluster import KubeCluster
from mediavault.errors import MediaVaultError
from tests.infra_fixtures import ROOT

MANIFESTS = ROOT / "manifests"
NAMESPACE = "mediavault"


@pytest.fixture(scope="module")
def manifests_namespace(kube_cluster: KubeCluster) -> Iterator[None]:
    """manifests/' namespace, created for real: a dry run creates nothing for the rest to use."""
    kube_cluster.kubectl("apply", "--server-side", "-f", str(MANIFESTS / "00-namespace.yaml"))
    try:
        yield
    finally:
        kube_cluster.kubectl("delete", "namespace", NAMESPACE, "--wait=true", "--timeout=90s")


def _count(*paths: str) -> int:
    return sum(
        1
        for directory in paths
        for path in sorted((MANIFESTS / directory).glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    )


@pytest.mark.parametrize("flavour", ["cpu", "gpu"])
@pytest.mark.usefixtures("manifests_namespace")
def test_every_manifest_is_accepted_by_the_api_server(
    kube_cluster: KubeCluster, flavour: str
) -> None:
    out = kube_cluster.kubectl(
        "apply", "--server-side", "--dry-run=server", "--field-manager=skaffold",
        "-f", str(MANIFESTS), "-f", str(MANIFESTS / flavour), "-o", "name",
    )  # fmt: skip
    applied = out.split()
    assert len(applied) == _count(".", flavour)
    assert "service.serving.knative.dev/mediavault-media" in applied
    assert "job.batch/mediavault-init" in applied
    assert "cronjob.batch/mediavault-reconcile" in applied
    assert "deployment.apps/mediavault-worker" in applied
    assert "virtualservice.networking.istio.io/mediavault-api" in applied
    # A dry run stores nothing.
    deployments = kube_cluster.get(f"/apis/apps/v1/namespaces/{NAMESPACE}/deployments")
    assert deployments is not None
    assert deployments["items"] == []


@pytest.mark.usefixtures("manifests_namespace")
def test_the_api_server_refuses_a_knative_service_its_crd_rejects(
    kube_cluster: KubeCluster,
) -> None:
    (doc,) = [
        d
        for d in yaml.safe_load_all((MANIFESTS / "30-functions.yaml").read_text())
        if d and d["metadata"]["name"] == "mediavault-media"
    ]
    doc["spec"]["template"]["spec"]["containerConcurrency"] = "many"
    with pytest.raises(MediaVaultError, match="containerConcurrency"):
        kube_cluster.kubectl(
            "apply", "--server-side", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(doc)
        )
