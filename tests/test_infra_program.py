"""The Pulumi program under mocks, as policies over what it creates (default and GPU config)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from infra_pulumi.knative import function_service_name
from infra_pulumi.routing import api_http_routes
from infra_pulumi.settings import StackSettings
from mediavault.routes import FUNCTIONS, ROUTES, function_for
from tests.infra_fixtures import (
    CONFIGS,
    SECRETS,
    by_kind,
    kube_objects,
    pod_specs,
    program,
)

SECRET_SIG = "4dabf18193072939515e22adb298388d"  # pulumi's special signature key
SECRET_MARKER = "1b47061264138c4ac30d75fd1eb44270"  # ... and its value for secrets


@pytest.fixture(params=sorted(CONFIGS))
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """The objects of one configuration."""
    return kube_objects(**CONFIGS[request.param])


def test_every_object_is_named_and_namespaced(docs: list[dict[str, Any]]) -> None:
    for doc in docs:
        assert doc["metadata"].get("name"), doc
        if doc["kind"] != "Namespace":
            assert doc["metadata"].get("namespace"), doc["metadata"]["name"]


def test_one_knative_service_per_function_scaling_to_zero_with_healthz(
    docs: list[dict[str, Any]],
) -> None:
    services = {
        d["metadata"]["name"]: d for d in by_kind(docs, "Service") if "serving" in d["apiVersion"]
    }
    assert set(services) == {function_service_name(f) for f in FUNCTIONS}
    for function in FUNCTIONS:
        template = services[function_service_name(function)]["spec"]["template"]
        assert template["metadata"]["annotations"]["autoscaling.knative.dev/min-scale"] == "0"
        container = template["spec"]["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/healthz"
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["FUNCTION_TARGET"] == function


def test_every_route_reaches_its_function_through_the_ingress(docs: list[dict[str, Any]]) -> None:
    (api,) = [
        d for d in by_kind(docs, "VirtualService") if d["metadata"]["name"] == "mediavault-api"
    ]
    http = api["spec"]["http"]
    for route in ROUTES:
        for path in (route.prefix, route.prefix + "/x"):
            matched = next(
                r
                for r in http
                if any(
                    path == m["uri"].get("exact") or path.startswith(m["uri"].get("prefix", "\0"))
                    for m in r["match"]
                )
            )
            host = matched["rewrite"]["authority"].split(".")[0]
            assert host == function_service_name(function_for(path) or "")
    assert "/api/authx" not in [m["uri"].get("exact") for r in http for m in r["match"]]


def test_routes_sort_longest_prefix_first() -> None:
    settings = StackSettings(secrets=None)  # type: ignore[arg-type]
    routed = [r for r in api_http_routes(settings) if "route" in r]
    prefixes = [r["match"][0]["uri"].get("exact") or r["match"][0]["uri"]["prefix"] for r in routed]
    assert [len(p) for p in prefixes] == sorted((len(p) for p in prefixes), reverse=True)
    assert prefixes[-1] == "/"  # the web app takes what no other function does


def test_function_health_and_metrics_are_not_published() -> None:
    settings = StackSettings(secrets=None)  # type: ignore[arg-type]
    first = api_http_routes(settings)[0]
    assert {m["uri"]["exact"] for m in first["match"]} == {"/healthz", "/metrics"}
    assert first["directResponse"]["status"] == 404
    assert "route" not in first


def test_every_container_has_requests_limits_and_runs_as_non_root(
    docs: list[dict[str, Any]],
) -> None:
    checked = 0
    for doc in docs:
        for spec in pod_specs(doc):
            pod_non_root = spec.get("securityContext", {}).get("runAsNonRoot", False)
            for container in spec["containers"] + spec.get("initContainers", []):
                checked += 1
                assert {"cpu", "memory"} <= set(container["resources"]["requests"]), container
                assert {"cpu", "memory"} <= set(container["resources"]["limits"]), container
                security = container["securityContext"]
                assert security.get("runAsNonRoot", pod_non_root), container["name"]
                assert security["allowPrivilegeEscalation"] is False
    assert checked >= len(FUNCTIONS) + 6


# Which Secret holds each secret config value: that one and no other.
HOLDER = {
    "postgresPassword": "mediavault-secrets",
    "minioRootPassword": "mediavault-minio-root",
    "storageFunctionsSecretKey": "mediavault-functions-secrets",
    "storageWorkerSecretKey": "mediavault-worker-secrets",
    "discordClientSecret": "mediavault-functions-secrets",
    "sessionSecret": "mediavault-functions-secrets",
}


def test_no_secret_value_outside_its_secret() -> None:
    assert set(HOLDER) == set(SECRETS)
    for config in CONFIGS.values():
        for created in program(**config):
            text = json.dumps(created.inputs, default=str)
            name = created.inputs.get("metadata", {}).get("name")
            for key, value in SECRETS.items():
                if created.inputs.get("kind") != "Secret" or name != HOLDER[key]:
                    assert value not in text, (created.name, key)
    secrets = {d["metadata"]["name"]: d for d in by_kind(kube_objects(), "Secret")}
    assert set(secrets) == set(HOLDER.values())
    for secret in secrets.values():
        # Pulumi keeps them marked secret all the way into the resource's inputs.
        assert secret["stringData"][SECRET_SIG] == SECRET_MARKER
    functions = secrets["mediavault-functions-secrets"]["stringData"]["value"]
    assert functions["SESSION_SECRET"] == SECRETS["sessionSecret"]
    assert functions["S3_SECRET_KEY"] == SECRETS["storageFunctionsSecretKey"]


def test_network_policies_cover_the_stateful_services(docs: list[dict[str, Any]]) -> None:
    policies = {
        d["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]: d
        for d in by_kind(docs, "NetworkPolicy")
        if d["spec"]["policyTypes"] == ["Ingress"]
    }
    assert set(policies) == {"postgres", "minio", "nsqd", "nsqlookupd"}
    for component, policy in policies.items():
        peers = policy["spec"]["ingress"][0]["from"]
        assert {
            "podSelector": {"matchLabels": {"app.kubernetes.io/part-of": "mediavault"}}
        } in peers
        assert len(peers) == (2 if component == "minio" else 1)


def test_worker_role_grants_only_jobs(docs: list[dict[str, Any]]) -> None:
    (role,) = by_kind(docs, "Role")
    assert role["rules"] == [
        {
            "apiGroups": ["batch"],
            "resources": ["jobs"],
            "verbs": ["create", "get", "delete", "list"],
        }
    ]


def test_knative_install_is_pinned_and_optional() -> None:
    files = [c for c in program() if c.type == "kubernetes:yaml/v2:ConfigFile"]
    assert [c.inputs["file"].rsplit("/", 1)[1] for c in files] == [
        "serving-crds.yaml",
        "serving-core.yaml",
        "istio.yaml",
        "net-istio.yaml",
    ]
    assert all("/knative-v1.20.0/" in c.inputs["file"] for c in files)
    assert not [c for c in program(installKnative="false") if "ConfigFile" in c.type]


def test_external_database_drops_the_statefulset_and_points_the_config_at_it() -> None:
    docs = kube_objects(externalDatabaseHost="db.internal")
    assert "mediavault-postgres" not in [
        d["metadata"]["name"] for d in by_kind(docs, "StatefulSet")
    ]
    (config,) = [
        d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "mediavault-config"
    ]
    assert config["data"]["POSTGRES_HOST"] == "db.internal"


def test_tls_adds_a_certificate_and_https(docs: list[dict[str, Any]]) -> None:
    tls = kube_objects(tlsClusterIssuer="letsencrypt")
    (cert,) = by_kind(tls, "Certificate")
    assert cert["spec"]["issuerRef"] == {"name": "letsencrypt", "kind": "ClusterIssuer"}
    assert not by_kind(docs, "Certificate")
    (config,) = [
        d for d in by_kind(tls, "ConfigMap") if d["metadata"]["name"] == "mediavault-config"
    ]
    assert config["data"]["API_BASE_URL"] == "https://mediavault.example.com"
    assert config["data"]["S3_PUBLIC_URL"] == "https://s3.mediavault.example.com"


def test_service_monitor_only_when_enabled() -> None:
    assert not by_kind(kube_objects(), "ServiceMonitor")
    monitored = kube_objects(monitoringServiceMonitor="true")
    assert len(by_kind(monitored, "ServiceMonitor")) == 1
    assert len(by_kind(monitored, "PodMonitor")) == 1
