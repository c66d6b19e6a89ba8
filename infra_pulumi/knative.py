"""Knative Serving (pinned release, Istio networking) and one Knative Service per function."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra_pulumi import kube
from infra_pulumi.accounts import FUNCTIONS_SECRETS
from infra_pulumi.settings import StackSettings
from mediavault.routes import FUNCTIONS

FUNCTION_PORT = 8080
SERVING_RELEASES = "https://github.com/knative/serving/releases/download"
NET_ISTIO_RELEASES = "https://github.com/knative/net-istio/releases/download"


def knative_manifest_urls(settings: StackSettings) -> list[tuple[str, str]]:
    """(resource name, URL) of each release file, in the order the install guide applies them."""
    serving = f"{SERVING_RELEASES}/{settings.knative_version}"
    istio = f"{NET_ISTIO_RELEASES}/{settings.net_istio_version}"
    return [
        ("knative-serving-crds", f"{serving}/serving-crds.yaml"),
        ("knative-serving-core", f"{serving}/serving-core.yaml"),
        ("istio", f"{istio}/istio.yaml"),
        ("knative-net-istio", f"{istio}/net-istio.yaml"),
    ]


def function_service_name(function: str) -> str:
    """The Knative Service (and its cluster-local host) of one function."""
    return f"mediavault-{function}"


@dataclass(frozen=True)
class KnativeServingArgs:
    """Inputs of KnativeServing."""

    settings: StackSettings


class KnativeServing(pulumi.ComponentResource):
    """Knative Serving and its Istio networking layer from the pinned release files."""

    files: list[pulumi.Resource]

    def __init__(
        self, name: str, args: KnativeServingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediavault:infra:KnativeServing", name, None, opts)
        self.files = []
        previous: list[pulumi.Resource] = []
        for resource_name, url in knative_manifest_urls(args.settings):
            # Each file needs the previous one (CRDs before the controllers that watch them).
            config_file = k8s.yaml.v2.ConfigFile(
                resource_name,
                file=url,
                opts=pulumi.ResourceOptions(parent=self, depends_on=previous),
            )
            self.files.append(config_file)
            previous = [config_file]
        self.register_outputs({"version": args.settings.knative_version})


@dataclass(frozen=True)
class FunctionServicesArgs:
    """Inputs of FunctionServices: they wait for Knative and for the init Job."""

    settings: StackSettings
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)


def function_spec(settings: StackSettings, function: str) -> dict[str, Any]:
    """The Knative Service spec of one function (camelCase: a custom resource's spec is raw)."""
    scaling = settings.functions
    container = {
        "name": "function",
        "image": settings.images.functions,
        "imagePullPolicy": settings.images.pull_policy,
        "env": [
            {"name": "FUNCTION_TARGET", "value": function},
            {"name": "FUNCTION_SOURCE", "value": f"functions/{function}/main.py"},
        ],
        # Their own storage account and the sign-in secrets; never MinIO's root account.
        "envFrom": [
            {"configMapRef": {"name": kube.CONFIG_MAP}},
            *({"secretRef": {"name": name}} for name in FUNCTIONS_SECRETS),
        ],
        "ports": [{"name": "http1", "containerPort": FUNCTION_PORT}],
        "readinessProbe": {"httpGet": {"path": "/healthz"}, "periodSeconds": 5},
        "resources": {
            "requests": {"cpu": scaling.cpu_request, "memory": scaling.memory_request},
            "limits": {"cpu": scaling.cpu_limit, "memory": scaling.memory_limit},
        },
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": kube.NON_ROOT_UID,
            "runAsGroup": kube.NON_ROOT_UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "tmp", "mountPath": "/tmp"}],
    }
    return {
        "template": {
            "metadata": {
                "labels": {**kube.labels("functions", function_service_name(function))},
                "annotations": {
                    "autoscaling.knative.dev/min-scale": str(scaling.min_scale),
                    "autoscaling.knative.dev/max-scale": str(scaling.max_scale),
                    # Prometheus scrapes the function's own /metrics on its pod.
                    "prometheus.io/scrape": "true",
                    "prometheus.io/port": str(FUNCTION_PORT),
                    "prometheus.io/path": "/metrics",
                },
            },
            "spec": {
                "containerConcurrency": scaling.container_concurrency,
                "timeoutSeconds": scaling.timeout_seconds,
                "enableServiceLinks": False,
                "containers": [container],
                "volumes": [{"name": "tmp", "emptyDir": {}}],
            },
        }
    }


class FunctionServices(pulumi.ComponentResource):
    """One cluster-local Knative Service per function of the route table."""

    services: dict[str, k8s.apiextensions.CustomResource]

    def __init__(
        self, name: str, args: FunctionServicesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediavault:infra:FunctionServices", name, None, opts)
        s = args.settings
        self.services = {}
        for function in FUNCTIONS:
            self.services[function] = k8s.apiextensions.CustomResource(
                f"function-{function}",
                api_version="serving.knative.dev/v1",
                kind="Service",
                metadata=kube.meta(
                    function_service_name(function),
                    s.namespace,
                    "functions",
                    # Public traffic enters only through the path-routed ingress host.
                    extra_labels={"networking.knative.dev/visibility": "cluster-local"},
                ),
                spec=function_spec(s, function),
                opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
            )
        self.register_outputs({"functions": list(self.services)})
