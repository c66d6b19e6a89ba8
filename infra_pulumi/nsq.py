"""NSQ: nsqlookupd (Deployment + Service) and nsqd (StatefulSet with its volume + Services)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra_pulumi import kube
from infra_pulumi.appconfig import (
    LOOKUPD_HTTP_PORT,
    LOOKUPD_SERVICE,
    LOOKUPD_TCP_PORT,
    NSQD_HTTP_PORT,
    NSQD_SERVICE,
    NSQD_TCP_PORT,
)
from infra_pulumi.datastores import StatefulPod, service, stateful_set
from infra_pulumi.settings import StackSettings

NSQD_PEERS = f"{NSQD_SERVICE}-peers"
# Encodes of long videos run for a long time; the worker touches messages well inside this.
MAX_MSG_TIMEOUT = "1h"


@dataclass(frozen=True)
class NsqArgs:
    """Inputs of Nsq."""

    settings: StackSettings


class Nsq(pulumi.ComponentResource):
    """nsqlookupd and nsqd, as the local stack runs them."""

    nsqd: k8s.apps.v1.StatefulSet
    lookupd: k8s.apps.v1.Deployment

    def __init__(
        self, name: str, args: NsqArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediavault:infra:Nsq", name, None, opts)
        s = args.settings
        ns, child = s.namespace, pulumi.ResourceOptions(parent=self)
        lookupd_ports = {"tcp": LOOKUPD_TCP_PORT, "http": LOOKUPD_HTTP_PORT}
        nsqd_ports = {"tcp": NSQD_TCP_PORT, "http": NSQD_HTTP_PORT}
        service("nsqlookupd", LOOKUPD_SERVICE, ns, "nsqlookupd", ports=lookupd_ports, opts=child)
        service("nsqd", NSQD_SERVICE, ns, "nsqd", ports=nsqd_ports, opts=child)
        service("nsqd-peers", NSQD_PEERS, ns, "nsqd", ports=nsqd_ports, opts=child, headless=True)
        self.lookupd = k8s.apps.v1.Deployment(
            "nsqlookupd",
            metadata=kube.meta(LOOKUPD_SERVICE, ns, "nsqlookupd"),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=1,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=kube.selector("nsqlookupd")),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=kube.labels("nsqlookupd")),
                    spec=k8s.core.v1.PodSpecArgs(
                        security_context=kube.pod_security(),
                        automount_service_account_token=False,
                        containers=[
                            self._container(
                                s,
                                "nsqlookupd",
                                [
                                    "/nsqlookupd",
                                    f"--tcp-address=0.0.0.0:{LOOKUPD_TCP_PORT}",
                                    f"--http-address=0.0.0.0:{LOOKUPD_HTTP_PORT}",
                                ],
                                lookupd_ports,
                            )
                        ],
                    ),
                ),
            ),
            opts=child,
        )
        nsqd = self._container(
            s,
            "nsqd",
            [
                "/nsqd",
                "--data-path=/data",
                f"--tcp-address=0.0.0.0:{NSQD_TCP_PORT}",
                f"--http-address=0.0.0.0:{NSQD_HTTP_PORT}",
                # Each pod announces its own stable DNS name to lookupd, so readers reach it.
                f"--broadcast-address=$(POD_NAME).{NSQD_PEERS}.{ns}.svc.cluster.local",
                f"--lookupd-tcp-address={LOOKUPD_SERVICE}:{LOOKUPD_TCP_PORT}",
                f"--max-msg-timeout={MAX_MSG_TIMEOUT}",
                # Every message goes to the volume, synced with its queue positions, none is held
                # only in memory: an nsqd that is killed or evicted loses no upload event.
                "--mem-queue-size=0",
                "--sync-every=1",
            ],
            nsqd_ports,
            volume=k8s.core.v1.VolumeMountArgs(name="data", mount_path="/data"),
        )
        # The headless Service governs the pods: it gives each the DNS name it broadcasts.
        pod = StatefulPod("nsqd", NSQD_SERVICE, nsqd, s.storage.nsqd, governing_service=NSQD_PEERS)
        self.nsqd = stateful_set(
            "nsqd", pod, s, pulumi.ResourceOptions(parent=self, depends_on=[self.lookupd])
        )
        self.register_outputs(
            {"nsqd": f"{NSQD_SERVICE}:{NSQD_TCP_PORT}", "lookupd": LOOKUPD_SERVICE}
        )

    @staticmethod
    def _container(
        s: StackSettings,
        name: str,
        command: list[str],
        ports: dict[str, int],
        volume: k8s.core.v1.VolumeMountArgs | None = None,
    ) -> k8s.core.v1.ContainerArgs:
        return k8s.core.v1.ContainerArgs(
            name=name,
            image=s.images.nsq,
            image_pull_policy=s.images.pull_policy,
            command=command,
            env=[
                k8s.core.v1.EnvVarArgs(
                    name="POD_NAME",
                    value_from=k8s.core.v1.EnvVarSourceArgs(
                        field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="metadata.name")
                    ),
                )
            ],
            ports=[
                k8s.core.v1.ContainerPortArgs(name=port_name, container_port=port)
                for port_name, port in ports.items()
            ],
            readiness_probe=kube.http_probe("/ping", "http"),
            liveness_probe=kube.http_probe("/ping", "http", period=20),
            resources=kube.resources("50m", "64Mi", "1", "512Mi"),
            security_context=kube.container_security(),
            volume_mounts=[volume] if volume else None,
        )
