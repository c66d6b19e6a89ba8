"""NetworkPolicies: PostgreSQL and NSQ only from MediaVault's pods; MinIO also from the ingress.

Transcode Jobs, which run ffmpeg over hostile files, may reach DNS, MinIO and PostgreSQL and
nothing else: ffmpeg itself never needs the network, and a pod cannot unshare its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra_pulumi import kube
from infra_pulumi.appconfig import (
    LOOKUPD_HTTP_PORT,
    LOOKUPD_TCP_PORT,
    MINIO_PORT,
    NSQD_HTTP_PORT,
    NSQD_TCP_PORT,
)
from infra_pulumi.settings import StackSettings

POSTGRES_PORT = 5432  # the in-cluster StatefulSet's container port
# Where the cluster's DNS runs (CoreDNS and kube-dns both carry this label).
DNS_NAMESPACE = "kube-system"
DNS_POD_LABELS = {"k8s-app": "kube-dns"}
ANYWHERE = "0.0.0.0/0"


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    """Inputs of NetworkPolicies."""

    settings: StackSettings


def _ports(
    *ports: int, protocols: tuple[str, ...] = ("TCP",)
) -> list[k8s.networking.v1.NetworkPolicyPortArgs]:
    return [
        k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol=protocol)
        for port in ports
        for protocol in protocols
    ]


def _component(component: str) -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """The pods of one of the stack's components, in this namespace."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=kube.selector(component))
    )


def transcode_egress(s: StackSettings) -> k8s.networking.v1.NetworkPolicySpecArgs:
    """Transcode Job pods: DNS, MinIO's S3 port and PostgreSQL, nothing else."""
    dns = k8s.networking.v1.NetworkPolicyPeerArgs(
        namespace_selector=k8s.meta.v1.LabelSelectorArgs(
            match_labels={"kubernetes.io/metadata.name": DNS_NAMESPACE}
        ),
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(DNS_POD_LABELS)),
    )
    if s.in_cluster_database:
        database, database_port = _component("postgres"), POSTGRES_PORT
    else:
        # An external host has no pod to select; only its port narrows the rule.
        database = k8s.networking.v1.NetworkPolicyPeerArgs(
            ip_block=k8s.networking.v1.IPBlockArgs(cidr=ANYWHERE)
        )
        database_port = s.postgres_port
    rule = k8s.networking.v1.NetworkPolicyEgressRuleArgs
    return k8s.networking.v1.NetworkPolicySpecArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=kube.selector("transcode")),
        policy_types=["Egress"],
        egress=[
            rule(to=[dns], ports=_ports(53, protocols=("UDP", "TCP"))),
            rule(to=[_component("minio")], ports=_ports(MINIO_PORT)),
            rule(to=[database], ports=_ports(database_port)),
        ],
    )


def _members() -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Pods of this namespace that belong to MediaVault."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(kube.MEMBER_LABELS))
    )


class NetworkPolicies(pulumi.ComponentResource):
    """Ingress rules for the stateful services (Knative reaches the functions); Jobs' egress."""

    def __init__(
        self, name: str, args: NetworkPoliciesArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediavault:infra:NetworkPolicies", name, None, opts)
        s = args.settings
        ingress_gateway = k8s.networking.v1.NetworkPolicyPeerArgs(
            namespace_selector=k8s.meta.v1.LabelSelectorArgs(
                match_labels={"kubernetes.io/metadata.name": s.ingress_namespace}
            ),
            pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels={"istio": "ingressgateway"}),
        )
        rules: dict[str, tuple[list[int], list[k8s.networking.v1.NetworkPolicyPeerArgs]]] = {
            "nsqd": ([NSQD_TCP_PORT, NSQD_HTTP_PORT], [_members()]),
            "nsqlookupd": ([LOOKUPD_TCP_PORT, LOOKUPD_HTTP_PORT], [_members()]),
            "minio": ([MINIO_PORT], [_members(), ingress_gateway]),
        }
        if s.in_cluster_database:
            rules["postgres"] = ([POSTGRES_PORT], [_members()])
        for component, (ports, peers) in rules.items():
            k8s.networking.v1.NetworkPolicy(
                f"allow-{component}",
                metadata=kube.meta(f"mediavault-{component}", s.namespace, "network"),
                spec=k8s.networking.v1.NetworkPolicySpecArgs(
                    pod_selector=k8s.meta.v1.LabelSelectorArgs(
                        match_labels=kube.selector(component)
                    ),
                    policy_types=["Ingress"],
                    ingress=[
                        k8s.networking.v1.NetworkPolicyIngressRuleArgs(
                            from_=peers,
                            ports=_ports(*ports),
                        )
                    ],
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        k8s.networking.v1.NetworkPolicy(
            "transcode-egress",
            metadata=kube.meta("mediavault-transcode-egress", s.namespace, "network"),
            spec=transcode_egress(s),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"protected": sorted(rules), "egressLimited": ["transcode"]})
