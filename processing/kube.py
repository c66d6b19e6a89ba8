"""The Kubernetes executor's Job: one batch/v1 Job per media, running `python -m processing.job`.

Pure dict building, no kubernetes import: `processing.kube_dispatch` sends what is built here.
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import Any

from mediavault.config import ProcessingSettings
from mediavault.errors import ConfigError
from processing.errors import PermanentProcessingError

JOB_NAME_PREFIX = "mediavault-transcode-"
CONTAINER_NAME = "processing"
MEDIA_ID_LABEL = "mediavault/media-id"
# Recommended labels; `part-of` is load-bearing: infra_pulumi's NetworkPolicies admit only pods
# carrying it to PostgreSQL, MinIO and NSQ.
JOB_LABELS = {
    "app.kubernetes.io/name": "mediavault-transcode",
    "app.kubernetes.io/component": "transcode",
    "app.kubernetes.io/part-of": "mediavault",
    "app.kubernetes.io/managed-by": "mediavault-worker",
}
# The processing image's USER (docker/Dockerfile.processing), stated so the kubelet can verify it.
NON_ROOT_UID = 10001
SCRATCH_MOUNT = "/tmp"  # noqa: S108  (a volume mount inside the Job's container)
# The job downloads the original (MAX_UPLOAD_BYTES, 10 GiB by default) and writes the encode next
# to it; past this the kubelet evicts the pod instead of letting one upload fill the node's disk.
SCRATCH_SIZE_LIMIT = "50Gi"
GPU_RESOURCE = "nvidia.com/gpu"
# NVENC needs `video`: the NVIDIA runtime mounts only the driver libraries listed here.
GPU_ENV = {"NVIDIA_DRIVER_CAPABILITIES": "video,compute,utility"}
TOLERATION_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
TOLERATIONS_VARIABLE = "PROCESSING_GPU_TOLERATIONS"
NODE_SELECTOR_VARIABLE = "PROCESSING_GPU_NODE_SELECTOR"

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_LABEL_NAME = re.compile(r"([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)")
_DNS_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_QUANTITY = re.compile(
    r"(?P<number>[0-9]+(\.[0-9]*)?|\.[0-9]+)(?P<suffix>[a-zA-Z]*|[eE][-+]?[0-9]+)"
)
_EXPONENT = re.compile(r"[eE][-+]?[0-9]+")
_QUANTITY_SUFFIXES: dict[str, Decimal | int] = {
    "": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15,
    "E": 10**18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60,
}  # fmt: skip


def job_name(media_id: str) -> str:
    """The Job's name for a media id: deterministic, so a duplicate event meets 409."""
    try:
        canonical = str(uuid.UUID(media_id))
    except (ValueError, AttributeError, TypeError):
        # Media ids are UUIDs (the media table's key); anything else is a caller's bug.
        raise PermanentProcessingError(f"not a media id: {media_id!r}") from None
    return JOB_NAME_PREFIX + canonical


def parse_toleration(raw: str) -> dict[str, str]:
    """`key[=value]:Effect` into a toleration: operator Equal with a value, else Exists."""
    key_value, colon, effect = raw.strip().rpartition(":")
    key, equals, value = key_value.partition("=")
    if not colon or not key:
        raise ConfigError(TOLERATIONS_VARIABLE, f"expected key[=value]:Effect, got {raw!r}")
    if effect not in TOLERATION_EFFECTS:
        raise ConfigError(
            TOLERATIONS_VARIABLE,
            f"effect must be one of {', '.join(TOLERATION_EFFECTS)}, got {effect!r} in {raw!r}",
        )
    _check_label_key(TOLERATIONS_VARIABLE, key)
    if equals:
        _check_label_value(TOLERATIONS_VARIABLE, value)
        return {"key": key, "operator": "Equal", "value": value, "effect": effect}
    return {"key": key, "operator": "Exists", "effect": effect}


def build_job(settings: ProcessingSettings, media_id: str) -> dict[str, Any]:
    """The complete batch/v1 Job (camelCase, as the API takes it) that processes one media."""
    name = job_name(media_id)
    canonical_id = name.removeprefix(JOB_NAME_PREFIX)
    labels = {**JOB_LABELS, MEDIA_ID_LABEL: canonical_id}
    requests = {"cpu": settings.job_cpu_request, "memory": settings.job_memory_request}
    limits = {"cpu": settings.job_cpu_limit, "memory": settings.job_memory_limit}
    for resource in ("cpu", "memory"):
        request_variable = f"PROCESSING_JOB_{resource.upper()}_REQUEST"
        limit_variable = f"PROCESSING_JOB_{resource.upper()}_LIMIT"
        # The API server would refuse every such Job with 422: say so at start-up instead.
        if quantity(request_variable, requests[resource]) > quantity(
            limit_variable, limits[resource]
        ):
            raise ConfigError(
                request_variable,
                f"must not exceed {limit_variable} ({requests[resource]} > {limits[resource]})",
            )
    container: dict[str, Any] = {
        "name": CONTAINER_NAME,
        "image": settings.job_image,
        "command": ["python", "-m", "processing.job", "--media-id", canonical_id],
        # TRANSCODE_ENCODER and every other setting come from here, never overridden below.
        "envFrom": [
            {"configMapRef": {"name": settings.job_env_configmap}},
            # The shared Secret and the worker's storage account: never the root or sign-in ones.
            *({"secretRef": {"name": secret}} for secret in settings.job_env_secrets),
        ],
        "resources": {"requests": requests, "limits": limits},
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": NON_ROOT_UID,
            "runAsGroup": NON_ROOT_UID,
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "capabilities": {"drop": ["ALL"]},
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "volumeMounts": [{"name": "scratch", "mountPath": SCRATCH_MOUNT}],
    }
    pod_spec: dict[str, Any] = {
        "restartPolicy": "Never",
        # The job talks to PostgreSQL and MinIO, never to the Kubernetes API.
        "automountServiceAccountToken": False,
        # Service links would add an env var per Service in the namespace; none is wanted.
        "enableServiceLinks": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": NON_ROOT_UID,
            "runAsGroup": NON_ROOT_UID,
            "fsGroup": NON_ROOT_UID,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [container],
        "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": SCRATCH_SIZE_LIMIT}}],
    }
    if settings.job_service_account:
        pod_spec["serviceAccountName"] = settings.job_service_account
    if settings.gpu_enabled:
        _add_gpu(settings, container, pod_spec)
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "namespace": settings.k8s_namespace, "labels": labels},
        "spec": {
            "backoffLimit": settings.job_backoff_limit,
            "activeDeadlineSeconds": settings.job_deadline_seconds,
            "ttlSecondsAfterFinished": settings.job_ttl_seconds,
            # A drained node or a preempted spot GPU is not the encode's fault: do not count it.
            "podFailurePolicy": {
                "rules": [
                    {
                        "action": "Ignore",
                        "onPodConditions": [{"type": "DisruptionTarget", "status": "True"}],
                    }
                ]
            },
            "template": {"metadata": {"labels": labels}, "spec": pod_spec},
        },
    }


def _add_gpu(settings: ProcessingSettings, container: dict[str, Any], pod: dict[str, Any]) -> None:
    """The GPU template: the device limit, where GPU nodes are, and their taints."""
    container["resources"]["limits"][GPU_RESOURCE] = str(settings.gpu_count)
    # NVIDIA_VISIBLE_DEVICES is deliberately not set: the device plugin sets it to the devices it
    # allocated, and a pod-level `all` would override that and expose every GPU on the node.
    container["env"] = [{"name": key, "value": value} for key, value in GPU_ENV.items()]
    if settings.gpu_node_selector:
        for key, value in settings.gpu_node_selector:
            _check_label_key(NODE_SELECTOR_VARIABLE, key)
            _check_label_value(NODE_SELECTOR_VARIABLE, value)
        pod["nodeSelector"] = dict(settings.gpu_node_selector)
    if settings.gpu_tolerations:
        pod["tolerations"] = [parse_toleration(raw) for raw in settings.gpu_tolerations]
    if settings.gpu_runtime_class:
        # Where the NVIDIA runtime is not the node's default, GPU pods must ask for it by name.
        pod["runtimeClassName"] = settings.gpu_runtime_class


def _check_label_key(variable: str, key: str) -> None:
    """A qualified name: optional DNS-subdomain prefix and '/', then a name of ≤ 63 characters."""
    prefix, slash, name = key.rpartition("/")
    valid = len(name) <= 63 and _LABEL_NAME.fullmatch(name) is not None
    if slash:
        valid = valid and len(prefix) <= 253 and _DNS_SUBDOMAIN.fullmatch(prefix) is not None
    if not valid:
        raise ConfigError(variable, f"{key!r} is not a valid Kubernetes label key")


def _check_label_value(variable: str, value: str) -> None:
    """Empty, or ≤ 63 alphanumerics with '-', '_', '.' inside."""
    if value and (len(value) > 63 or _LABEL_NAME.fullmatch(value) is None):
        raise ConfigError(variable, f"{value!r} is not a valid Kubernetes label value")


def quantity(variable: str, raw: str) -> Decimal:
    """The number a Kubernetes quantity (`500m`, `2`, `4Gi`, `1e3`) stands for."""
    match = _QUANTITY.fullmatch(raw)
    suffix = match["suffix"] if match else ""
    if match is None or not (suffix in _QUANTITY_SUFFIXES or _EXPONENT.fullmatch(suffix)):
        raise ConfigError(variable, f"must be a Kubernetes quantity like 500m, 2 or 4Gi: {raw!r}")
    if suffix in _QUANTITY_SUFFIXES:
        return Decimal(match["number"]) * _QUANTITY_SUFFIXES[suffix]
    return Decimal(match["number"] + suffix)
