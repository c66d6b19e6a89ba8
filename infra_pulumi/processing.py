"""Processing: the worker Deployment, its RBAC (Jobs only) and the transcode Job templates."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_kubernetes as k8s

from infra_pulumi import kube
from infra_pulumi.settings import GpuSettings, StackSettings

WORKER = "mediavault-worker"
JOB_ACCOUNT = "mediavault-transcode"
JOB_TEMPLATES = "mediavault-job-templates"
JOB_TEMPLATE_DIR = "/etc/mediavault/jobs"


@dataclass(frozen=True)
class ProcessingArgs:
    """Inputs of Processing."""

    settings: StackSettings


def _toleration(raw: str) -> dict[str, str]:
    """'key[=value]:Effect' into a toleration (no value means Exists)."""
    key_value, _, effect = raw.partition(":")
    key, sep, value = key_value.partition("=")
    toleration = {"key": key, "operator": "Equal" if sep else "Exists", "effect": effect}
    if sep:
        toleration["value"] = value
    return {k: v for k, v in toleration.items() if v}


def job_template(settings: StackSettings, gpu: GpuSettings | None = None) -> dict[str, Any]:
    """A batch/v1 Job the worker fills in (name, args) for one media item; GPU when given."""
    limits = {"cpu": "4", "memory": "4Gi"}
    env = [{"name": "TMPDIR", "value": "/work"}]
    if gpu is not None:
        limits["nvidia.com/gpu"] = str(gpu.count)
        env += [
            # NVENC needs `video`; the NVIDIA runtime mounts only the libraries listed here.
            {"name": "NVIDIA_DRIVER_CAPABILITIES", "value": "video,compute,utility"},
            {"name": "TRANSCODE_ENCODER", "value": "hevc_nvenc"},
        ]
    pod_spec: dict[str, Any] = {
        "serviceAccountName": JOB_ACCOUNT,
        "automountServiceAccountToken": False,
        "restartPolicy": "Never",
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": kube.NON_ROOT_UID,
            "runAsGroup": kube.NON_ROOT_UID,
            "fsGroup": kube.NON_ROOT_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "transcode",
                "image": settings.images.processing,
                "imagePullPolicy": settings.images.pull_policy,
                # The worker appends `--media-id <id>`.
                "command": ["python", "-m", "processing.job"],
                "env": env,
                "envFrom": [
                    {"configMapRef": {"name": kube.CONFIG_MAP}},
                    {"secretRef": {"name": kube.SECRET}},
                ],
                "resources": {"requests": {"cpu": "1", "memory": "1Gi"}, "limits": limits},
                "securityContext": {
                    "runAsNonRoot": True,
                    "allowPrivilegeEscalation": False,
                    "readOnlyRootFilesystem": True,
                    "capabilities": {"drop": ["ALL"]},
                },
                "volumeMounts": [{"name": "work", "mountPath": "/work"}],
            }
        ],
        # Scratch space for the original and the encode, sized for large videos.
        "volumes": [{"name": "work", "emptyDir": {"sizeLimit": "50Gi"}}],
    }
    if gpu is not None:
        pod_spec["nodeSelector"] = dict(gpu.node_selector)
        pod_spec["tolerations"] = [_toleration(item) for item in gpu.tolerations]
        if gpu.runtime_class:
            pod_spec["runtimeClassName"] = gpu.runtime_class
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"namespace": settings.namespace, "labels": kube.labels("transcode")},
        "spec": {
            "backoffLimit": 2,
            "ttlSecondsAfterFinished": 3600,
            "template": {"metadata": {"labels": kube.labels("transcode")}, "spec": pod_spec},
        },
    }


class Processing(pulumi.ComponentResource):
    """The NSQ consumer that dispatches transcode Jobs."""

    worker: k8s.apps.v1.Deployment
    role: k8s.rbac.v1.Role

    def __init__(
        self, name: str, args: ProcessingArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediavault:infra:Processing", name, None, opts)
        s = args.settings
        ns, child = s.namespace, pulumi.ResourceOptions(parent=self)
        account = k8s.core.v1.ServiceAccount(
            "worker", metadata=kube.meta(WORKER, ns, "worker"), opts=child
        )
        k8s.core.v1.ServiceAccount(
            "transcode",
            metadata=kube.meta(JOB_ACCOUNT, ns, "transcode"),
            automount_service_account_token=False,
            opts=child,
        )
        self.role = k8s.rbac.v1.Role(
            "worker-jobs",
            metadata=kube.meta(f"{WORKER}-jobs", ns, "worker"),
            # Jobs in this namespace, nothing else: the worker starts and watches transcodes.
            rules=[
                k8s.rbac.v1.PolicyRuleArgs(
                    api_groups=["batch"],
                    resources=["jobs"],
                    verbs=["create", "get", "list", "watch", "delete"],
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
        templates = {"cpu.json": json.dumps(job_template(s), indent=2, sort_keys=True) + "\n"}
        if s.gpu.enabled:
            templates["gpu.json"] = (
                json.dumps(job_template(s, s.gpu), indent=2, sort_keys=True) + "\n"
            )
        k8s.core.v1.ConfigMap(
            "job-templates",
            metadata=kube.meta(JOB_TEMPLATES, ns, "worker"),
            data=templates,
            opts=child,
        )
        self.worker = self._worker(s)
        self.register_outputs({"worker": WORKER, "gpu": s.gpu.enabled})

    def _worker(self, s: StackSettings) -> k8s.apps.v1.Deployment:
        tmp_volume, tmp_mount = kube.tmp_volume()
        container = k8s.core.v1.ContainerArgs(
            name="worker",
            image=s.images.processing,
            image_pull_policy=s.images.pull_policy,
            command=["mediavault", "worker"],
            env_from=kube.app_env_from(),
            env=[
                k8s.core.v1.EnvVarArgs(name="PROCESSING_JOB_TEMPLATE_DIR", value=JOB_TEMPLATE_DIR),
                k8s.core.v1.EnvVarArgs(name="PROCESSING_GPU", value=str(s.gpu.enabled).lower()),
                k8s.core.v1.EnvVarArgs(
                    name="PROCESSING_JOB_NAMESPACE",
                    value_from=k8s.core.v1.EnvVarSourceArgs(
                        field_ref=k8s.core.v1.ObjectFieldSelectorArgs(
                            field_path="metadata.namespace"
                        )
                    ),
                ),
            ],
            ports=[k8s.core.v1.ContainerPortArgs(name="metrics", container_port=s.worker_port)],
            readiness_probe=kube.http_probe("/healthz", "metrics"),
            liveness_probe=kube.http_probe("/healthz", "metrics", period=20, failures=6),
            resources=kube.resources("100m", "256Mi", "1", "1Gi"),
            security_context=kube.container_security(),
            volume_mounts=[
                tmp_mount,
                k8s.core.v1.VolumeMountArgs(
                    name="job-templates", mount_path=JOB_TEMPLATE_DIR, read_only=True
                ),
            ],
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
                        containers=[container],
                        volumes=[
                            tmp_volume,
                            k8s.core.v1.VolumeArgs(
                                name="job-templates",
                                config_map=k8s.core.v1.ConfigMapVolumeSourceArgs(
                                    name=JOB_TEMPLATES
                                ),
                            ),
                        ],
                    ),
                ),
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
