"""One public host with path routing to the functions (Istio), MinIO's S3 API on its own host."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra_pulumi import kube
from infra_pulumi.appconfig import MINIO_PORT, MINIO_SERVICE
from infra_pulumi.knative import function_service_name
from infra_pulumi.settings import StackSettings
from mediavault.routes import ROUTES

GATEWAY = "mediavault-gateway"
TLS_SECRET = "mediavault-tls"  # noqa: S105  (a Secret's name, written by cert-manager)
KNATIVE_LOCAL_GATEWAY = "knative-local-gateway"


@dataclass(frozen=True)
class RoutingArgs:
    """Inputs of Routing."""

    settings: StackSettings


def api_http_routes(settings: StackSettings) -> list[dict[str, Any]]:
    """Path routes from the route table, longest prefix first, as Knative's routing sample does.

    Each rewrites the authority to the function's cluster-local host and goes through Knative's
    local gateway, which scales the function from zero when needed.
    """
    local_gateway = kube.service_dns(KNATIVE_LOCAL_GATEWAY, settings.ingress_namespace)
    # Every function's own /healthz and /metrics stay inside the cluster (the web app's "/" would
    # otherwise publish them).
    routes: list[dict[str, Any]] = [
        {
            "name": "internal-endpoints",
            "match": [{"uri": {"exact": path}} for path in ("/healthz", "/metrics")],
            "directResponse": {"status": 404},
        }
    ]
    for route in sorted(ROUTES, key=lambda r: len(r.prefix), reverse=True):
        service = function_service_name(route.function)
        root = route.prefix == "/"
        routes.append(
            {
                "name": f"{service}-root" if root else f"{service}{route.prefix.replace('/', '-')}",
                "match": [{"uri": {"prefix": "/"}}]
                if root
                else [{"uri": {"exact": route.prefix}}, {"uri": {"prefix": route.prefix + "/"}}],
                "rewrite": {"authority": kube.service_dns(service, settings.namespace)},
                "route": [{"destination": {"host": local_gateway, "port": {"number": 80}}}],
            }
        )
    return routes


class Routing(pulumi.ComponentResource):
    """Istio Gateway, the API and S3 VirtualServices, and a cert-manager Certificate when TLS."""

    api: k8s.apiextensions.CustomResource
    s3: k8s.apiextensions.CustomResource

    def __init__(
        self, name: str, args: RoutingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediavault:infra:Routing", name, None, opts)
        s = args.settings
        ns, child = s.namespace, pulumi.ResourceOptions(parent=self)
        hosts = [s.public_host, s.s3_host]
        tls = bool(s.tls_cluster_issuer)
        servers: list[dict[str, Any]] = [
            {
                "port": {"number": 80, "name": "http", "protocol": "HTTP"},
                "hosts": hosts,
                **({"tls": {"httpsRedirect": True}} if tls else {}),
            }
        ]
        if tls:
            # The gateway pods read the certificate from their own namespace.
            k8s.apiextensions.CustomResource(
                "certificate",
                api_version="cert-manager.io/v1",
                kind="Certificate",
                metadata=kube.meta(TLS_SECRET, s.ingress_namespace, "routing"),
                spec={
                    "secretName": TLS_SECRET,
                    "dnsNames": hosts,
                    "issuerRef": {"name": s.tls_cluster_issuer, "kind": "ClusterIssuer"},
                },
                opts=child,
            )
            servers.append(
                {
                    "port": {"number": 443, "name": "https", "protocol": "HTTPS"},
                    "hosts": hosts,
                    "tls": {"mode": "SIMPLE", "credentialName": TLS_SECRET},
                }
            )
        gateway = k8s.apiextensions.CustomResource(
            "gateway",
            api_version="networking.istio.io/v1",
            kind="Gateway",
            metadata=kube.meta(GATEWAY, ns, "routing"),
            spec={"selector": {"istio": "ingressgateway"}, "servers": servers},
            opts=child,
        )
        after_gateway = pulumi.ResourceOptions(parent=self, depends_on=[gateway])
        self.api = k8s.apiextensions.CustomResource(
            "api-routes",
            api_version="networking.istio.io/v1",
            kind="VirtualService",
            metadata=kube.meta("mediavault-api", ns, "routing"),
            spec={"hosts": [s.public_host], "gateways": [GATEWAY], "http": api_http_routes(s)},
            opts=after_gateway,
        )
        self.s3 = k8s.apiextensions.CustomResource(
            "s3-route",
            api_version="networking.istio.io/v1",
            kind="VirtualService",
            metadata=kube.meta("mediavault-s3", ns, "routing"),
            spec={
                "hosts": [s.s3_host],
                "gateways": [GATEWAY],
                "http": [
                    {
                        "name": "minio-s3",
                        # Only the S3 API port: MinIO's console is never published.
                        "route": [
                            {
                                "destination": {
                                    "host": kube.service_dns(MINIO_SERVICE, ns),
                                    "port": {"number": MINIO_PORT},
                                }
                            }
                        ],
                    }
                ],
            },
            opts=after_gateway,
        )
        self.register_outputs({"apiUrl": s.api_url, "s3Url": s.s3_url})
