"""The init Job: `mediavault init` (migrations, bucket, notification) before the functions serve."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from infra_pulumi import kube
from infra_pulumi.accounts import INIT_SECRET_ENV, INIT_SECRETS
from infra_pulumi.settings import StackSettings

INIT_JOB = "mediavault-init"


@dataclass(frozen=True)
class InitJobArgs:
    """Inputs of InitJob: it waits for the stores it initializes."""

    settings: StackSettings
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)


class InitJob(pulumi.ComponentResource):
    """A Job that runs `mediavault init` once per image; idempotent, so reruns are harmless."""

    job: k8s.batch.v1.Job

    def __init__(
        self, name: str, args: InitJobArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediavault:infra:InitJob", name, None, opts)
        s = args.settings
        self.job = k8s.batch.v1.Job(
            "init",
            metadata=kube.meta(INIT_JOB, s.namespace, "init"),
            spec=k8s.batch.v1.JobSpecArgs(
                # PostgreSQL or MinIO may still be starting: retry with back-off.
                backoff_limit=10,
                template=kube.cli_pod(
                    "init",
                    ["mediavault", "init"],
                    image=s.images.processing,
                    pull_policy=s.images.pull_policy,
                    resources_args=kube.resources("100m", "128Mi", "500m", "256Mi"),
                    restart_policy="OnFailure",
                    secrets=INIT_SECRETS,
                    # MinIO's root account, to create the role accounts it is given here.
                    env=[
                        kube.secret_env(name, key, secret)
                        for name, (secret, key) in INIT_SECRET_ENV.items()
                    ],
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"job": INIT_JOB})
