"""What the network lets through: transcode Jobs reach only DNS and the stores; storage's host."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from mediavault.config import Settings
from processing.kube import build_job
from tests.infra_fixtures import (
    CONFIGS,
    by_kind,
    container_environment,
    containers,
    kube_objects,
    named,
    pod_specs,
)

DNS_PEER = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}


@pytest.fixture(params=sorted(CONFIGS))
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """The objects of one configuration."""
    return kube_objects(**CONFIGS[request.param])


def _env(doc: dict[str, Any], docs: list[dict[str, Any]]) -> dict[str, str]:
    (container,) = containers(doc)
    return container_environment(doc, container, docs)


def _transcode_job(docs: list[dict[str, Any]]) -> dict[str, Any]:
    """A Job as the deployed worker builds it from its own environment."""
    worker = Settings.from_env(
        _env(named(docs, "Deployment", "mediavault-worker"), docs), sign_in=False
    )
    return build_job(worker.processing, str(uuid.uuid4()))


def _selects(policy: dict[str, Any], labels: dict[str, str]) -> bool:
    return _peer_selects(policy["spec"], labels)


def _peer_selects(peer: dict[str, Any], labels: dict[str, str]) -> bool:
    """A pod selector (of a policy or a peer in its own namespace) that matches these labels."""
    selector = peer.get("podSelector")
    return selector is not None and selector["matchLabels"].items() <= labels.items()


def _pod_labels(doc: dict[str, Any]) -> dict[str, str]:
    spec = doc["spec"]["jobTemplate"]["spec"] if doc["kind"] == "CronJob" else doc["spec"]
    labels: dict[str, str] = spec["template"].get("metadata", {}).get("labels", {})
    return labels


def _egress_policies(docs: list[dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    return [
        policy
        for policy in by_kind(docs, "NetworkPolicy")
        if "Egress" in policy["spec"]["policyTypes"] and _selects(policy, labels)
    ]


def _pod_behind(docs: list[dict[str, Any]], address: str) -> tuple[dict[str, str], int]:
    """The labels and container port of the pods a `service:port` address reaches."""
    host, _, port = address.rpartition(":")
    service = named([d for d in docs if d["apiVersion"] == "v1"], "Service", host)
    (service_port,) = [p for p in service["spec"]["ports"] if p["port"] == int(port)]
    (workload,) = [
        d
        for d in by_kind(docs, "StatefulSet")
        if service["spec"]["selector"].items()
        <= d["spec"]["template"]["metadata"]["labels"].items()
    ]
    (container,) = containers(workload)
    (target,) = [p for p in container["ports"] if p["name"] == service_port["targetPort"]]
    return workload["spec"]["template"]["metadata"]["labels"], target["containerPort"]


def _ports(rule: dict[str, Any]) -> set[tuple[int, str]]:
    return {(p["port"], p["protocol"]) for p in rule["ports"]}


def test_transcode_jobs_reach_only_dns_minio_and_postgres(docs: list[dict[str, Any]]) -> None:
    job = _transcode_job(docs)
    (policy,) = _egress_policies(docs, job["spec"]["template"]["metadata"]["labels"])
    assert policy["spec"]["policyTypes"] == ["Egress"]
    rules = policy["spec"]["egress"]
    # Each rule names its peers: a rule without `to` would allow every destination.
    assert all(rule.get("to") and rule.get("ports") for rule in rules)
    dns = [rule for rule in rules if rule["to"] == [DNS_PEER]]
    assert [_ports(rule) for rule in dns] == [{(53, "UDP"), (53, "TCP")}]
    # The stores exactly where the Job's own settings point, at the pods' real ports.
    env = container_environment(job, job["spec"]["template"]["spec"]["containers"][0], docs)
    stores = [rule for rule in rules if rule not in dns]
    reached = {env["S3_ENDPOINT"], f"{env['POSTGRES_HOST']}:{env['POSTGRES_PORT']}"}
    assert len(stores) == len(reached) == 2
    for address in reached:
        labels, port = _pod_behind(docs, address)
        (rule,) = [r for r in stores if _peer_selects(r["to"][0], labels)]
        assert rule["to"] == [{"podSelector": rule["to"][0]["podSelector"]}], "this namespace"
        assert _ports(rule) == {(port, "TCP")}


def test_no_other_pod_is_held_by_the_transcode_egress_policy(docs: list[dict[str, Any]]) -> None:
    pods = [doc for doc in docs if list(pod_specs(doc))]
    held = [doc["metadata"]["name"] for doc in pods if _egress_policies(docs, _pod_labels(doc))]
    assert len(pods) >= 10
    # The worker needs the API server and NSQ, the functions Discord: none of them is held.
    assert held == []


def test_an_external_database_is_reached_on_its_port_only() -> None:
    docs = kube_objects(externalDatabaseHost="db.internal", postgresPort="6432")
    job = _transcode_job(docs)
    (policy,) = _egress_policies(docs, job["spec"]["template"]["metadata"]["labels"])
    external = [r for r in policy["spec"]["egress"] if "ipBlock" in r["to"][0]]
    assert [(r["to"], _ports(r)) for r in external] == [
        ([{"ipBlock": {"cidr": "0.0.0.0/0"}}], {(6432, "TCP")})
    ]


def test_storage_can_live_on_a_registrable_domain_of_its_own() -> None:
    docs = kube_objects(
        publicHost="vault.example.org",
        s3PublicHost="vault-media.example.net",
        tlsClusterIssuer="letsencrypt",
    )
    hosts = ["vault.example.org", "vault-media.example.net"]
    (gateway,) = by_kind(docs, "Gateway")
    assert [server["hosts"] for server in gateway["spec"]["servers"]] == [hosts, hosts]
    (certificate,) = by_kind(docs, "Certificate")
    assert certificate["spec"]["dnsNames"] == hosts
    assert named(docs, "VirtualService", "mediavault-s3")["spec"]["hosts"] == hosts[1:]
    assert named(docs, "VirtualService", "mediavault-api")["spec"]["hosts"] == hosts[:1]
    # Presigned URLs point at it: the functions sign for that host.
    media = named(docs, "Service", "mediavault-media")
    storage = Settings.from_env(_env(media, docs)).storage
    assert storage.public_url == "https://vault-media.example.net"


def test_storage_on_the_apis_own_host_stops_the_program() -> None:
    with pytest.raises(ValueError, match=r"s3PublicHost 'mediavault\.example\.com' is publicHost"):
        kube_objects(s3PublicHost="mediavault.example.com")
