"""The reconcile CronJob: `mediavault reconcile` on a schedule, the safety net of the pipeline."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from infra_pulumi import kube
from infra_pulumi.accounts import WORKER_SECRETS
from infra_pulumi.settings import StackSettings

RECONCILE = "mediavault-reconcile"
# A pass is a few queries and HEAD requests; one that runs this long is hung, and with
# concurrencyPolicy Forbid it would hold back every later pass until it is killed.
ACTIVE_DEADLINE_SECONDS = 300
# A pass the controller could not start in time is skipped (the next one does the same work);
# a bound also spares the controller's "too many missed start times" after an outage.
STARTING_DEADLINE_SECONDS = 300
# Finished Jobs (and their pods' logs) stay a day for `kubectl logs`; the history limits
# below keep only the last few anyway.
TTL_SECONDS_AFTER_FINISHED = 24 * 3600
SUCCESSFUL_HISTORY = 1
FAILED_HISTORY = 3
# The pass is idempotent: a retry after a transient error (database or MinIO restarting) is safe.
BACKOFF_LIMIT = 2


@dataclass(frozen=True)
class ReconcileArgs:
    """Inputs of Reconcile: it waits for the init Job (schema, bucket) like the functions do."""

    settings: StackSettings
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)


class Reconcile(pulumi.ComponentResource):
    """Re-enqueues uploads whose event was lost or whose Job went silent; drops abandoned ones."""

    cron_job: k8s.batch.v1.CronJob

    def __init__(
        self, name: str, args: ReconcileArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediavault:infra:Reconcile", name, None, opts)
        s = args.settings
        # Both images install the `mediavault` CLI, but the processing image is the one whose
        # code writes the claims and heartbeats this pass judges stale: the same tag keeps
        # reconcile and the worker/Jobs on one version. Its env is exactly the ConfigMap and
        # Secrets the worker reads (same PROCESSING_STALE_AFTER_SECONDS, same storage account),
        # so reconcile never takes over a claim the worker still considers live.
        pod = kube.cli_pod(
            "reconcile",
            ["mediavault", "reconcile"],
            image=s.images.processing,
            pull_policy=s.images.pull_policy,
            resources_args=kube.resources("50m", "128Mi", "500m", "256Mi"),
            restart_policy="Never",
            secrets=WORKER_SECRETS,
        )
        self.cron_job = k8s.batch.v1.CronJob(
            "reconcile",
            metadata=kube.meta(RECONCILE, s.namespace, "reconcile"),
            spec=k8s.batch.v1.CronJobSpecArgs(
                schedule=s.reconcile_schedule,
                # Two passes at once would publish the same events twice (harmless, but noise).
                concurrency_policy="Forbid",
                starting_deadline_seconds=STARTING_DEADLINE_SECONDS,
                successful_jobs_history_limit=SUCCESSFUL_HISTORY,
                failed_jobs_history_limit=FAILED_HISTORY,
                job_template=k8s.batch.v1.JobTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(labels=kube.labels("reconcile")),
                    spec=k8s.batch.v1.JobSpecArgs(
                        backoff_limit=BACKOFF_LIMIT,
                        active_deadline_seconds=ACTIVE_DEADLINE_SECONDS,
                        ttl_seconds_after_finished=TTL_SECONDS_AFTER_FINISHED,
                        template=pod,
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(args.depends_on)),
        )
        self.register_outputs({"cronJob": RECONCILE, "schedule": s.reconcile_schedule})
