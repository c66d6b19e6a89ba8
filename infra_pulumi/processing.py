"""Processing: the worker Deployment (it builds each transcode Job itself) and its RBAC."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pulumi
import pulumi_kubernetes as k8s

from infra_pulumi import kube
from infra_pulumi.accounts import WORKER_SECRETS
from infra_pulumi.appconfig import processing_defaults
from infra_pulumi.settings import StackSettings

WORKER = "mediavault-worker"
JOB_ACCOUNT = "mediavault-transcode"
# What processing/kube_dispatch.py does with Jobs: create, read a finished one, delete it.
# create a Job, read a finished one, replace it on a retry, list them to notice failed ones.
JOB_VERBS = ("create", "get", "delete", "list")
ALL_INTERFACES = "0.0.0.0"  # noqa: S104  (the kubelet and Prometheus reach the pod's IP)
# The worker runs no ffmpeg (its Jobs do): its /tmp holds little.
WORKER_TMP_LIMIT = "1Gi"


@dataclass(frozen=True)
class ProcessingArgs:
    """Inputs of Processing."""

    settings: StackSettings
    # The worker must not consume before `mediavault init` has migrated the database.
    depends_on: Sequence[pulumi.Resource] = field(default_factory=list)


def worker_settings(s: StackSettings) -> dict[str, str]:
    """The worker's own settings (see .env.example); K8S_NAMESPACE comes from its pod."""
    defaults, selector = processing_defaults(), s.gpu.node_selector
    return {
        "PROCESSING_EXECUTOR": "kubernetes",
        "WORKER_CONCURRENCY": str(s.worker_concurrency),
        # Fairness between users: one owner's queue never holds every running Job.
        "PROCESSING_MAX_JOBS_PER_OWNER": str(defaults.max_jobs_per_owner),
        # /healthz and /metrics: the default 127.0.0.1 is out of reach of probes and Prometheus.
        "WORKER_HOST": ALL_INTERFACES,
        "WORKER_PORT": str(s.worker_port),
        "WORKER_MSG_TIMEOUT_SECONDS": str(defaults.msg_timeout_seconds),
        # The worker's own image; Skaffold rewrites this value too (skaffold.yaml).
        "PROCESSING_IMAGE": s.images.processing,
        "PROCESSING_JOB_SERVICE_ACCOUNT": JOB_ACCOUNT,
        "PROCESSING_JOB_CONFIGMAP": kube.CONFIG_MAP,
        # The Jobs get the worker's Secrets: its storage account, never another role's.
        "PROCESSING_JOB_SECRET": ",".join(WORKER_SECRETS),
        "PROCESSING_JOB_BACKOFF_LIMIT": str(defaults.job_backoff_limit),
        "PROCESSING_JOB_DEADLINE_SECONDS": str(defaults.job_deadline_seconds),
        "PROCESSING_JOB_TTL_SECONDS": str(defaults.job_ttl_seconds),
        "PROCESSING_JOB_CPU_REQUEST": s.jobs.cpu_request,
        "PROCESSING_JOB_CPU_LIMIT": s.jobs.cpu_limit,
        "PROCESSING_JOB_MEMORY_REQUEST": s.jobs.memory_request,
        "PROCESSING_JOB_MEMORY_LIMIT": s.jobs.memory_limit,
        "PROCESSING_GPU": str(s.gpu.enabled).lower(),
        "PROCESSING_GPU_COUNT": str(s.gpu.count),
        "PROCESSING_GPU_NODE_SELECTOR": ",".join(f"{k}={v}" for k, v in selector.items()),
        "PROCESSING_GPU_TOLERATIONS": ",".join(s.gpu.tolerations),
        "PROCESSING_GPU_RUNTIME_CLASS": s.gpu.runtime_class,
        # Used by a root worker only; pods run as NON_ROOT_UID, so decoders keep that uid.
        "PROCESSING_DECODER_UID": str(defaults.decoder_uid),
        "PROCESSING_DECODER_GID": str(defaults.decoder_gid),
    }


class Processing(pulumi.ComponentResource):
    """The NSQ consumer that creates one transcode Job per media."""

    worker: k8s.apps.v1.Deployment
    role: k8s.rbac.v1.Role

    def __init__(
        self, name: str, args: ProcessingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediavault:infra:Processing", name, None, opts)
        s = args.settings
        ns, child = s.namespace, pulumi.ResourceOptions(parent=self)
        env = worker_settings(s)
        account = k8s.core.v1.ServiceAccount(
            "worker", metadata=kube.meta(WORKER, ns, "worker"), opts=child
        )
        # The Jobs' identity: no token, no Role; they talk to PostgreSQL and MinIO only.
        k8s.core.v1.ServiceAccount(
            "transcode",
            metadata=kube.meta(JOB_ACCOUNT, ns, "transcode"),
            automount_service_account_token=False,
            opts=child,
        )
        self.role = k8s.rbac.v1.Role(
            "worker-jobs",
            metadata=kube.meta(f"{WORKER}-jobs", ns, "worker"),
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["batch"], resources=["jobs"], verbs=list(JOB_VERBS)
                )
            ],
            opts=child,
        )
        k8s.rbac.v1.RoleBinding(
            "worker-jobs",
            metadata=kube.meta(f"{WORKER}-jobs", ns, "worker"),
            role_ref=k8s.rbac.v1.RoleRefArgs(
                api_group="rbac.authorization.k8s.io", kind="Role", name=f"{WORKER}-jobs"
            ),
            subjects=[k8s.rbac.v1.SubjectArgs(kind="ServiceAccount", name=WORKER, namespace=ns)],
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.role, account]),
        )
        self.worker = self._worker(s, env, args.depends_on)
        self.register_outputs({"worker": WORKER, "gpu": s.gpu.enabled})

    def _worker(
        self, s: StackSettings, env: dict[str, str], depends_on: Sequence[pulumi.Resource]
    ) -> k8s.apps.v1.Deployment:
        tmp_volume, tmp_mount = kube.tmp_volume(WORKER_TMP_LIMIT)
        container = k8s.core.v1.ContainerArgs(
            name="worker",
            image=s.images.processing,
            image_pull_policy=s.images.pull_policy,
            command=["mediavault", "worker"],
            env_from=kube.app_env_from(WORKER_SECRETS),
            env=[
                # Jobs go where the Role lets the worker create them: its own namespace.
                k8s.core.v1.EnvVarArgs(
                    name="K8S_NAMESPACE",
                    value_from=k8s.core.v1.EnvVarSourceArgs(
                        field_ref=k8s.core.v1.ObjectFieldSelectorArgs(
                            field_path="metadata.namespace"
                        )
                    ),
                ),
                # Its pod name: jobs it held when its container restarted are its to take back.
                k8s.core.v1.EnvVarArgs(
                    name="WORKER_ID",
                    value_from=k8s.core.v1.EnvVarSourceArgs(
                        field_ref=k8s.core.v1.ObjectFieldSelectorArgs(field_path="metadata.name")
                    ),
                ),
                *(k8s.core.v1.EnvVarArgs(name=key, value=value) for key, value in env.items()),
            ],
            ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=s.worker_port)],
            readiness_probe=kube.http_probe("/healthz", "metrics"),
            liveness_probe=kube.http_probe("/healthz", "metrics", period=20, failures=6),
            resources=kube.resources("100m", "256Mi", "1", "1Gi"),
            security_context=kube.container_security(),
            volume_mounts=[tmp_mount],
        )
        return k8s.apps.v1.Deployment(
            "worker",
            metadata=kube.meta(WORKER, s.namespace, "worker"),
            spec=k8s.apps.v1.DeploymentSpecArgs(
                replicas=s.worker_replicas,
                selector=k8s.meta.v1.LabelSelectorArgs(match_labels=kube.selector("worker")),
                template=k8s.core.v1.PodTemplateSpecArgs(
                    metadata=k8s.meta.v1.ObjectMetaArgs(
                        labels=kube.labels("worker"),
                        annotations={
                            "prometheus.io/scrape": "true",
                            "prometheus.io/port": str(s.worker_port),
                            "prometheus.io/path": "/metrics",
                        },
                    ),
                    spec=k8s.core.v1.PodSpecArgs(
                        service_account_name=WORKER,
                        security_context=kube.pod_security(),
                        # Its settings are explicit; one env var per Service would only add noise.
                        enable_service_links=False,
                        containers=[container],
                        volumes=[tmp_volume],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self, depends_on=list(depends_on)),
        )
