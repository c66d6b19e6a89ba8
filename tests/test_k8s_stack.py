"""`pulumi up`, `preview` and `destroy` of infra_pulumi/ against a real Kubernetes API server.

The tests of this module run in order: up (the module fixture), what the server stored, the
worker's Job executor with the account Pulumi made, a preview with no changes, then destroy.
"""

from __future__ import annotations

import dataclasses
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pulumi import automation as auto

from infra_pulumi.automation import LocalBackend, local_stack, secret_keys
from mediavault.config import ProcessingSettings, Settings
from mediavault.devstack.kubecluster import KubeCluster
from mediavault.routes import FUNCTIONS
from processing.kube import job_name
from processing.kube_dispatch import KubernetesDispatcher
from tests.harness import poll
from tests.infra_fixtures import BASE_CONFIG, SECRETS, container_environment
from tests.k8s_fixtures import (
    FAILING_MEDIA_ID,
    condition,
    decoded,
    service_account_client,
    tools_dir,
)

log = logging.getLogger(__name__)

pytestmark = pytest.mark.timeout(900)

NS = "mediavault"
ISSUER = "letsencrypt-test"
# The cluster "already runs Knative with Istio" (their CRDs and namespaces are stubbed); TLS
# and Prometheus Operator monitors on, so that their custom resources are applied too.
CONFIG = {
    **BASE_CONFIG,
    "installKnative": "false",
    "tlsClusterIssuer": ISSUER,
    "monitoringServiceMonitor": "true",
}
PASSPHRASE = "throwaway-test-passphrase"


@dataclass
class Deployed:
    """The stack after `pulumi up`, and the cluster it went to."""

    stack: auto.Stack
    up: auto.UpResult
    cluster: KubeCluster
    work_dir: Path
    destroyed: bool = False


@pytest.fixture(scope="module")
def deployed(
    kube_cluster: KubeCluster, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployed]:
    """`pulumi up` of the whole program, once for this module; destroyed at its end anyway."""
    work_dir = tmp_path_factory.mktemp("pulumi")
    backend = LocalBackend(work_dir, tools_dir(), kube_cluster.kubeconfig, PASSPHRASE)
    stack = local_stack(backend, CONFIG)
    up = stack.up(color="never", on_output=log.info)
    result = Deployed(stack, up, kube_cluster, work_dir)
    try:
        yield result
    finally:
        if not result.destroyed:
            stack.destroy(color="never", on_output=log.info)


def _get(cluster: KubeCluster, path: str) -> dict[str, Any]:
    obj = cluster.get(path)
    assert obj is not None, f"{path} does not exist"
    return obj


def _items(cluster: KubeCluster, path: str) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = _get(cluster, path)["items"]
    return items


def test_up_succeeds_with_the_outputs(deployed: Deployed) -> None:
    assert deployed.up.summary.result == "succeeded"
    assert deployed.up.outputs["url"].value == "https://mediavault.example.com"
    assert deployed.up.summary.resource_changes == {"create": len(_stack_resources(deployed))}


def _stack_resources(deployed: Deployed) -> list[dict[str, Any]]:
    """The resources of the stack's state, less the default provider (not a change of its own)."""
    deployment = deployed.stack.export_stack().deployment or {}
    resources: list[dict[str, Any]] = deployment.get("resources") or []
    return [r for r in resources if not r["type"].startswith("pulumi:providers:")]


def test_functions_are_knative_services_that_scale_to_zero(deployed: Deployed) -> None:
    cluster = deployed.cluster
    path = f"/apis/serving.knative.dev/v1/namespaces/{NS}/services"
    services = {s["metadata"]["name"]: s for s in _items(cluster, path)}
    assert set(services) == {f"mediavault-{name}" for name in FUNCTIONS}
    for service in services.values():
        template = service["spec"]["template"]
        assert template["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] == "0"
        (container,) = template["spec"]["containers"]
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
        labels = service["metadata"]["labels"]
        assert labels["networking.knative.dev/visibility"] == "cluster-local"


def test_the_init_job_completed_before_the_functions_were_created(deployed: Deployed) -> None:
    cluster = deployed.cluster
    job = _get(cluster, f"/apis/batch/v1/namespaces/{NS}/jobs/mediavault-init")
    assert condition(job, "Complete"), job.get("status")
    completed = job["status"]["completionTime"]
    path = f"/apis/serving.knative.dev/v1/namespaces/{NS}/services"
    # RFC 3339 UTC timestamps of one format compare as strings.
    created = [s["metadata"]["creationTimestamp"] for s in _items(cluster, path)]
    assert created
    assert all(completed <= stamp for stamp in created), (completed, created)


def test_stores_and_worker_are_ready(deployed: Deployed) -> None:
    cluster = deployed.cluster
    for name in ("mediavault-postgres", "mediavault-minio", "mediavault-nsqd"):
        stateful = _get(cluster, f"/apis/apps/v1/namespaces/{NS}/statefulsets/{name}")
        assert stateful["status"].get("readyReplicas") == 1, name
    claims = _items(cluster, f"/api/v1/namespaces/{NS}/persistentvolumeclaims")
    assert {c["status"]["phase"] for c in claims} == {"Bound"}
    assert len(claims) == 3
    worker = _get(cluster, f"/apis/apps/v1/namespaces/{NS}/deployments/mediavault-worker")
    assert worker["status"].get("availableReplicas") == 1
    # Defaulted by the API server, not written by the program.
    assert worker["spec"]["strategy"]["type"] == "RollingUpdate"


def test_the_worker_role_allows_jobs_only(deployed: Deployed) -> None:
    cluster = deployed.cluster
    role = _get(cluster, f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/roles/"
                         "mediavault-worker-jobs")  # fmt: skip
    assert role["rules"] == [
        {"apiGroups": ["batch"], "resources": ["jobs"],
         "verbs": ["create", "get", "delete", "list"]}
    ]  # fmt: skip
    binding = _get(cluster, f"/apis/rbac.authorization.k8s.io/v1/namespaces/{NS}/rolebindings/"
                            "mediavault-worker-jobs")  # fmt: skip
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "mediavault-worker", "namespace": NS}
    ]
    transcode = _get(cluster, f"/api/v1/namespaces/{NS}/serviceaccounts/mediavault-transcode")
    assert transcode["automountServiceAccountToken"] is False


def test_network_policies_protect_the_stores(deployed: Deployed) -> None:
    path = f"/apis/networking.k8s.io/v1/namespaces/{NS}/networkpolicies"
    policies = {p["metadata"]["name"]: p for p in _items(deployed.cluster, path)}
    egress = policies.pop("mediavault-transcode-egress")
    assert egress["spec"]["policyTypes"] == ["Egress"]
    assert set(policies) == {
        "mediavault-postgres", "mediavault-minio", "mediavault-nsqd", "mediavault-nsqlookupd",
    }  # fmt: skip
    for policy in policies.values():
        assert policy["spec"]["policyTypes"] == ["Ingress"]
        peers = policy["spec"]["ingress"][0]["from"]
        members = {"matchLabels": {"app.kubernetes.io/part-of": "mediavault"}}
        assert {"podSelector": members} in peers


def test_the_reconcile_cron_job(deployed: Deployed) -> None:
    cron = _get(deployed.cluster, f"/apis/batch/v1/namespaces/{NS}/cronjobs/mediavault-reconcile")
    assert cron["spec"]["schedule"] == "*/10 * * * *"
    assert cron["spec"]["concurrencyPolicy"] == "Forbid"
    pod = cron["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["command"] == ["mediavault", "reconcile"]


def test_routing_tls_and_monitors_are_stored(deployed: Deployed) -> None:
    cluster = deployed.cluster
    gateway = _get(cluster, f"/apis/networking.istio.io/v1/namespaces/{NS}/gateways/"
                            "mediavault-gateway")  # fmt: skip
    assert {s["port"]["number"] for s in gateway["spec"]["servers"]} == {80, 443}
    api = _get(cluster, f"/apis/networking.istio.io/v1/namespaces/{NS}/virtualservices/"
                        "mediavault-api")  # fmt: skip
    assert api["spec"]["hosts"] == ["mediavault.example.com"]
    certificate = _get(cluster, "/apis/cert-manager.io/v1/namespaces/istio-system/certificates/"
                                "mediavault-tls")  # fmt: skip
    assert certificate["spec"]["issuerRef"] == {"name": ISSUER, "kind": "ClusterIssuer"}
    monitors = "/apis/monitoring.coreos.com/v1/namespaces/mediavault"
    assert _get(cluster, f"{monitors}/servicemonitors/mediavault-worker")["spec"]["endpoints"]
    assert _get(cluster, f"{monitors}/podmonitors/mediavault-functions")["spec"]["selector"]


def test_secrets_reach_the_secret_and_stay_encrypted_in_the_state(deployed: Deployed) -> None:
    secrets = f"/api/v1/namespaces/{NS}/secrets"
    shared = decoded(_get(deployed.cluster, f"{secrets}/mediavault-secrets"))
    assert shared["POSTGRES_PASSWORD"] == SECRETS["postgresPassword"]
    functions = decoded(_get(deployed.cluster, f"{secrets}/mediavault-functions-secrets"))
    assert functions["SESSION_SECRET"] == SECRETS["sessionSecret"]
    assert "SESSION_SECRET" not in shared  # the worker and its Jobs never see it
    config = _get(deployed.cluster, f"/api/v1/namespaces/{NS}/configmaps/mediavault-config")
    state = "".join(p.read_text(errors="replace") for p in deployed.work_dir.rglob("*.json"))
    assert state, "no state written"
    for value in SECRETS.values():
        assert value not in state
        assert value not in str(config["data"])


def _worker_settings(cluster: KubeCluster) -> ProcessingSettings:
    """The worker's settings as its Deployment on the server gives them (Secret: dummies)."""
    deployment = _get(cluster, f"/apis/apps/v1/namespaces/{NS}/deployments/mediavault-worker")
    config_map = _get(cluster, f"/api/v1/namespaces/{NS}/configmaps/mediavault-config")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    env = container_environment(deployment, container, [{**config_map, "kind": "ConfigMap"}])
    return Settings.from_env(env, sign_in=False).processing


def _job(cluster: KubeCluster, media_id: str) -> dict[str, Any] | None:
    return cluster.get(f"/apis/batch/v1/namespaces/{NS}/jobs/{job_name(media_id)}")


def _dispatcher(deployed: Deployed, settings: ProcessingSettings) -> KubernetesDispatcher:
    client = service_account_client(deployed.cluster, NS, "mediavault-worker")
    return KubernetesDispatcher(settings, api_client=client)


def test_the_worker_creates_a_transcode_job_that_completes(deployed: Deployed) -> None:
    cluster, settings = deployed.cluster, _worker_settings(deployed.cluster)
    media_id = str(uuid.uuid4())
    with _dispatcher(deployed, settings) as dispatcher:
        assert dispatcher.dispatch(media_id) is True
        poll(lambda: condition(_job(cluster, media_id), "Complete"), "the Job to complete")
        job = _job(cluster, media_id)
        assert job is not None
        pod = job["spec"]["template"]["spec"]
        assert pod["serviceAccountName"] == "mediavault-transcode"
        assert pod["containers"][0]["image"] == "ghcr.io/mediavault/mediavault-processing:latest"
        assert job["spec"]["template"]["metadata"]["labels"]["app.kubernetes.io/part-of"] == NS
        # A retry of a finished transcode replaces its Job (read, then deleted by uid).
        assert dispatcher.dispatch(media_id) is True
        poll(
            lambda: (_job(cluster, media_id) or job)["metadata"]["uid"] != job["metadata"]["uid"],
            "the finished Job to be replaced",
        )


def test_a_failed_job_is_noticed_from_its_status_and_replaced(deployed: Deployed) -> None:
    cluster = deployed.cluster
    # No retries of the pod: the Job fails with its first pod (kwok: exit code 1).
    settings = dataclasses.replace(_worker_settings(cluster), job_backoff_limit=0)
    with _dispatcher(deployed, settings) as dispatcher:
        assert dispatcher.dispatch(FAILING_MEDIA_ID) is True
        poll(lambda: condition(_job(cluster, FAILING_MEDIA_ID), "Failed"), "the Job to fail")
        failed = _job(cluster, FAILING_MEDIA_ID)
        assert failed is not None
        assert failed["status"].get("failed") == 1
        assert not condition(failed, "Complete")
        # What the worker's periodic check finds, with its own account (it may list Jobs).
        noticed = {job.media_id: job for job in dispatcher.failed_jobs()}
        assert FAILING_MEDIA_ID in noticed
        assert noticed[FAILING_MEDIA_ID].uid == failed["metadata"]["uid"]
        assert dispatcher.dispatch(FAILING_MEDIA_ID) is True
        replaced = _job(cluster, FAILING_MEDIA_ID)
        assert replaced is None or replaced["metadata"]["uid"] != failed["metadata"]["uid"]


def test_a_running_job_is_not_duplicated(deployed: Deployed) -> None:
    cluster = deployed.cluster
    # A GPU Job: no node of this cluster has a GPU, so its pod stays Pending and the Job active.
    settings = dataclasses.replace(_worker_settings(cluster), gpu_enabled=True)
    media_id = str(uuid.uuid4())
    with _dispatcher(deployed, settings) as dispatcher:
        assert dispatcher.dispatch(media_id) is True
        job = _job(cluster, media_id)
        assert job is not None
        assert dispatcher.dispatch(media_id) is False
        again = _job(cluster, media_id)
        assert again is not None
        assert again["metadata"]["uid"] == job["metadata"]["uid"]
        assert not condition(again, "Complete")


def test_the_worker_account_may_touch_nothing_but_jobs(deployed: Deployed) -> None:
    from kubernetes.client import AppsV1Api, BatchV1Api, CoreV1Api
    from kubernetes.client.exceptions import ApiException

    client = service_account_client(deployed.cluster, NS, "mediavault-worker")
    forbidden: list[Callable[[], object]] = [
        lambda: CoreV1Api(client).list_namespaced_pod(NS),
        lambda: CoreV1Api(client).read_namespaced_secret("mediavault-secrets", NS),
        lambda: AppsV1Api(client).list_namespaced_deployment(NS),
        lambda: BatchV1Api(client).list_namespaced_job("default"),
        lambda: BatchV1Api(client).read_namespaced_job("mediavault-init", "default"),
    ]
    try:
        for call in forbidden:
            with pytest.raises(ApiException) as refused:
                call()
            assert refused.value.status == 403
        # What it may do: read a Job of its namespace.
        init = BatchV1Api(client).read_namespaced_job("mediavault-init", NS)
        assert init.metadata is not None
        assert init.metadata.name == "mediavault-init"
    finally:
        closable: Any = client  # ApiClient.close carries no annotations
        closable.close()


def test_preview_after_up_shows_no_changes(deployed: Deployed) -> None:
    preview = deployed.stack.preview(color="never", on_output=log.info)
    summary = preview.change_summary
    changes = {op: n for op, n in summary.items() if op != auto.OpType.SAME and n}
    assert changes == {}
    assert summary.get(auto.OpType.SAME) == len(_stack_resources(deployed))


def test_destroy_removes_everything(deployed: Deployed) -> None:
    cluster = deployed.cluster
    result = deployed.stack.destroy(color="never", on_output=log.info)
    deployed.destroyed = True
    assert result.summary.result == "succeeded"
    assert cluster.get(f"/api/v1/namespaces/{NS}") is None
    assert cluster.get("/apis/cert-manager.io/v1/namespaces/istio-system/certificates/"
                       "mediavault-tls") is None  # fmt: skip
    assert _stack_resources(deployed) == []
    # The volumes kwok provisioned for the claims went with them.
    poll(lambda: not _items(cluster, "/api/v1/persistentvolumes"), "volumes to be deleted")


def test_every_secret_of_the_tests_is_declared_secret() -> None:
    # Otherwise local_stack would store it as plain config.
    assert set(SECRETS) <= secret_keys()
