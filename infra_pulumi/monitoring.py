"""Prometheus scraping: pod annotations always; Prometheus Operator monitors when enabled."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra_pulumi import kube
from infra_pulumi.datastores import service
from infra_pulumi.processing import WORKER
from infra_pulumi.settings import StackSettings

WORKER_METRICS = f"{WORKER}-metrics"


@dataclass(frozen=True)
class MonitoringArgs:
    """Inputs of Monitoring."""

    settings: StackSettings


class Monitoring(pulumi.ComponentResource):
    """A ServiceMonitor for the worker and a PodMonitor for the functions' pods."""

    def __init__(
        self, name: str, args: MonitoringArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediavault:infra:Monitoring", name, None, opts)
        s = args.settings
        ns, child = s.namespace, pulumi.ResourceOptions(parent=self)
        service(
            "worker-metrics",
            WORKER_METRICS,
            ns,
            "worker",
            ports={"metrics": s.worker_port},
            opts=child,
        )
        k8s.apiextensions.CustomResource(
            "worker-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="ServiceMonitor",
            metadata=kube.meta(WORKER, ns, "monitoring"),
            spec={
                "selector": {"matchLabels": kube.selector("worker")},
                "endpoints": [{"port": "metrics", "path": "/metrics", "interval": "30s"}],
            },
            opts=child,
        )
        # Knative owns the functions' Services (one per revision); their pods are stable targets.
        k8s.apiextensions.CustomResource(
            "functions-monitor",
            api_version="monitoring.coreos.com/v1",
            kind="PodMonitor",
            metadata=kube.meta("mediavault-functions", ns, "monitoring"),
            spec={
                "selector": {"matchLabels": {"app.kubernetes.io/component": "functions"}},
                "podMetricsEndpoints": [{"port": "http1", "path": "/metrics", "interval": "30s"}],
            },
            opts=child,
        )
        self.register_outputs({"serviceMonitor": WORKER})
