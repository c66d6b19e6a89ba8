"""The whole stack as one component, in dependency order; stack outputs for the README's steps."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi

from infra_pulumi.appconfig import AppConfig, AppConfigArgs
from infra_pulumi.checks import check_settings
from infra_pulumi.datastores import DataStores, DataStoresArgs
from infra_pulumi.init_job import InitJob, InitJobArgs
from infra_pulumi.knative import (
    FunctionServices,
    FunctionServicesArgs,
    KnativeServing,
    KnativeServingArgs,
)
from infra_pulumi.monitoring import Monitoring, MonitoringArgs
from infra_pulumi.network import NetworkPolicies, NetworkPoliciesArgs
from infra_pulumi.nsq import Nsq, NsqArgs
from infra_pulumi.processing import Processing, ProcessingArgs
from infra_pulumi.reconcile import Reconcile, ReconcileArgs
from infra_pulumi.routing import Routing, RoutingArgs
from infra_pulumi.settings import StackSettings, load_settings


@dataclass(frozen=True)
class MediaVaultArgs:
    """Inputs of MediaVault."""

    settings: StackSettings


class MediaVault(pulumi.ComponentResource):
    """Config, stores, NSQ, init, Knative, functions, worker, reconcile, routing, policies."""

    api_url: str
    s3_url: str

    def __init__(
        self, name: str, args: MediaVaultArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediavault:infra:MediaVault", name, None, opts)
        s = args.settings
        check_settings(s)

        def after(*resources: pulumi.Resource) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, depends_on=list(resources))

        config = AppConfig("config", AppConfigArgs(s), pulumi.ResourceOptions(parent=self))
        nsq = Nsq("nsq", NsqArgs(s), after(config))
        stores = DataStores("stores", DataStoresArgs(s), after(config, nsq))
        init = InitJob("init", InitJobArgs(s, depends_on=[stores, nsq]), after(config))
        ready: list[pulumi.Resource] = [init]
        if s.install_knative:
            ready.append(KnativeServing("knative", KnativeServingArgs(s), after(config)))
        functions = FunctionServices(
            "functions", FunctionServicesArgs(s, depends_on=ready), after(config)
        )
        Processing("processing", ProcessingArgs(s, depends_on=[init]), after(config))
        # Its first pass must find the schema. The CronJob itself waits for the init Job: a
        # component's depends_on does not reach the resources created inside it.
        Reconcile("reconcile", ReconcileArgs(s, depends_on=[init]), after(config))
        Routing("routing", RoutingArgs(s), after(functions, stores))
        NetworkPolicies("network", NetworkPoliciesArgs(s), after(config))
        if s.service_monitor:
            Monitoring("monitoring", MonitoringArgs(s), after(config))
        self.api_url = s.api_url
        self.s3_url = s.s3_url
        self.register_outputs({"apiUrl": s.api_url, "s3PublicUrl": s.s3_url})


def build() -> MediaVault:
    """Create the stack from the current Pulumi config and export its URLs."""
    stack = MediaVault("mediavault", MediaVaultArgs(load_settings()))
    pulumi.export("url", stack.api_url)
    pulumi.export("s3PublicEndpoint", stack.s3_url)
    return stack
