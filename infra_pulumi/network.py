"""NetworkPolicies: PostgreSQL and NSQ only from MediaVault's pods; MinIO also from the ingress."""

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


@dataclass(frozen=True)
class NetworkPoliciesArgs:
    """Inputs of NetworkPolicies."""

    settings: StackSettings


def _members() -> k8s.networking.v1.NetworkPolicyPeerArgs:
    """Pods of this namespace that belong to MediaVault."""
    return k8s.networking.v1.NetworkPolicyPeerArgs(
        pod_selector=k8s.meta.v1.LabelSelectorArgs(match_labels=dict(kube.MEMBER_LABELS))
    )


class NetworkPolicies(pulumi.ComponentResource):
    """Ingress rules for the stateful services (the functions stay reachable by Knative)."""

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
            rules["postgres"] = ([5432], [_members()])
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
                            ports=[
                                k8s.networking.v1.NetworkPolicyPortArgs(port=port, protocol="TCP")
                                for port in ports
                            ],
                        )
                    ],
                ),
                opts=pulumi.ResourceOptions(parent=self),
            )
        self.register_outputs({"protected": sorted(rules)})
