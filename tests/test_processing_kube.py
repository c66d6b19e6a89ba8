"""Kubernetes executor: the transcode Job manifests, against the API schema."""

from __future__ import annotations

import json
import re
import uuid
from typing import Any

import kubernetes_validate
import pytest

from mediavault.errors import ConfigError
from processing.errors import PermanentProcessingError
from processing.kube import build_job, job_name, parse_toleration
from tests.kube_fixtures import GPU_ENV, MEDIA_ID, processing_settings

K8S_VERSION = "1.33"
DNS_1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    """The pod template's spec."""
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


def container(job: dict[str, Any]) -> dict[str, Any]:
    """The Job's only container."""
    (only,) = pod_spec(job)["containers"]
    assert isinstance(only, dict)
    return only


def env_names(job: dict[str, Any]) -> set[str]:
    """Names of the container's literal env vars."""
    return {item["name"] for item in container(job).get("env", [])}


def test_cpu_job_validates_and_carries_the_settings() -> None:
    settings = processing_settings(
        K8S_NAMESPACE="media",
        PROCESSING_IMAGE="registry.example/processing:1.2.3",
        PROCESSING_JOB_CONFIGMAP="mv-config",
        PROCESSING_JOB_SECRET="mv-secrets",
        PROCESSING_JOB_BACKOFF_LIMIT="3",
        PROCESSING_JOB_DEADLINE_SECONDS="7200",
        PROCESSING_JOB_TTL_SECONDS="600",
        PROCESSING_JOB_CPU_REQUEST="500m",
        PROCESSING_JOB_CPU_LIMIT="2",
        PROCESSING_JOB_MEMORY_REQUEST="512Mi",
        PROCESSING_JOB_MEMORY_LIMIT="2Gi",
    )
    job = build_job(settings, MEDIA_ID)

    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    assert job["metadata"]["namespace"] == "media"
    assert job["spec"]["backoffLimit"] == 3
    assert job["spec"]["activeDeadlineSeconds"] == 7200
    assert job["spec"]["ttlSecondsAfterFinished"] == 600
    assert pod_spec(job)["restartPolicy"] == "Never"
    main = container(job)
    assert main["name"] == "processing"
    assert main["image"] == "registry.example/processing:1.2.3"
    assert main["command"] == ["python", "-m", "processing.job", "--media-id", MEDIA_ID]
    assert main["envFrom"] == [
        {"configMapRef": {"name": "mv-config"}},
        {"secretRef": {"name": "mv-secrets"}},
    ]
    assert main["resources"] == {
        "requests": {"cpu": "500m", "memory": "512Mi"},
        "limits": {"cpu": "2", "memory": "2Gi"},
    }
    # No GPU anything on the CPU template.
    assert "nodeSelector" not in pod_spec(job)
    assert "tolerations" not in pod_spec(job)
    assert "nvidia.com/gpu" not in json.dumps(job)
    assert "env" not in main
    # No service account configured: the namespace default, without a token either way.
    assert "serviceAccountName" not in pod_spec(job)
    assert pod_spec(job)["automountServiceAccountToken"] is False


def test_job_takes_every_secret_named_and_no_other() -> None:
    job = build_job(
        processing_settings(PROCESSING_JOB_SECRET="mv-shared, mv-worker-storage"), MEDIA_ID
    )

    assert container(job)["envFrom"] == [
        {"configMapRef": {"name": "mediavault-config"}},
        {"secretRef": {"name": "mv-shared"}},
        {"secretRef": {"name": "mv-worker-storage"}},
    ]
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def test_job_labels_match_the_stack_and_name_the_media() -> None:
    job = build_job(processing_settings(), MEDIA_ID)

    for labels in (job["metadata"]["labels"], job["spec"]["template"]["metadata"]["labels"]):
        assert labels["app.kubernetes.io/component"] == "transcode"
        assert labels["app.kubernetes.io/name"] == "mediavault-transcode"
        # The NetworkPolicies admit only pods with this label to PostgreSQL, MinIO and NSQ.
        assert labels["app.kubernetes.io/part-of"] == "mediavault"
        assert labels["mediavault/media-id"] == MEDIA_ID


def test_job_runs_non_root_with_a_writable_scratch_tmp() -> None:
    job = build_job(processing_settings(), MEDIA_ID)

    pod_security = pod_spec(job)["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert pod_security["runAsUser"] != 0
    assert pod_security["seccompProfile"] == {"type": "RuntimeDefault"}
    security = container(job)["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["readOnlyRootFilesystem"] is True
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert security["seccompProfile"] == {"type": "RuntimeDefault"}
    (mount,) = container(job)["volumeMounts"]
    assert mount["mountPath"] == "/tmp"
    (volume,) = pod_spec(job)["volumes"]
    assert volume["name"] == mount["name"]
    assert volume["emptyDir"] == {"sizeLimit": "50Gi"}


def test_service_account_when_configured() -> None:
    settings = processing_settings(PROCESSING_JOB_SERVICE_ACCOUNT="mediavault-transcode")

    job = build_job(settings, MEDIA_ID)

    assert pod_spec(job)["serviceAccountName"] == "mediavault-transcode"
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def test_gpu_job_validates_and_asks_for_gpus() -> None:
    job = build_job(processing_settings(**GPU_ENV), MEDIA_ID)

    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    assert container(job)["resources"]["limits"]["nvidia.com/gpu"] == "2"
    assert pod_spec(job)["nodeSelector"] == {"nvidia.com/gpu.present": "true", "pool": "transcode"}
    assert pod_spec(job)["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "transcode", "effect": "NoExecute"},
    ]
    env = {item["name"]: item["value"] for item in container(job)["env"]}
    assert env == {"NVIDIA_DRIVER_CAPABILITIES": "video,compute,utility"}
    # The encoder stays the ConfigMap's; the device plugin, not the pod, picks visible GPUs.
    assert "TRANSCODE_ENCODER" not in env_names(job)
    assert "NVIDIA_VISIBLE_DEVICES" not in env_names(job)


def test_gpu_job_without_selector_or_tolerations_leaves_them_out() -> None:
    job = build_job(processing_settings(PROCESSING_GPU="true"), MEDIA_ID)

    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
    assert container(job)["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert "nodeSelector" not in pod_spec(job)
    assert "tolerations" not in pod_spec(job)


def test_job_name_is_deterministic_and_dns_valid() -> None:
    other = str(uuid.uuid4())

    name = job_name(MEDIA_ID)

    assert name == "mediavault-transcode-" + MEDIA_ID
    assert len(name) <= 63
    assert DNS_1123_LABEL.fullmatch(name)
    assert job_name(MEDIA_ID.upper()) == name  # one media, however its id is spelled
    assert job_name(other) != name
    assert build_job(processing_settings(), MEDIA_ID)["metadata"]["name"] == name


@pytest.mark.parametrize("bad_id", ["", "../etc", "not-a-uuid", "x" * 80])
def test_job_name_refuses_what_is_not_a_media_id(bad_id: str) -> None:
    with pytest.raises(PermanentProcessingError, match="not a media id"):
        job_name(bad_id)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            "nvidia.com/gpu:NoSchedule",
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        ),
        (
            "dedicated=gpu:NoExecute",
            {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoExecute"},
        ),
        (
            " example.com/tier=a.b-c_d:PreferNoSchedule ",
            {
                "key": "example.com/tier",
                "operator": "Equal",
                "value": "a.b-c_d",
                "effect": "PreferNoSchedule",
            },
        ),
        (
            "empty=:NoSchedule",
            {"key": "empty", "operator": "Equal", "value": "", "effect": "NoSchedule"},
        ),
    ],
)
def test_tolerations_parse(raw: str, expected: dict[str, str]) -> None:
    assert parse_toleration(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "nvidia.com/gpu",  # no effect
        "nvidia.com/gpu:",  # empty effect
        ":NoSchedule",  # no key
        "=value:NoSchedule",  # no key, a value
        "nvidia.com/gpu:Sometimes",  # unknown effect
        "bad key:NoSchedule",  # not a label key
        "key=bad value!:NoSchedule",  # not a label value
    ],
)
def test_bad_tolerations_name_the_variable(raw: str) -> None:
    settings = processing_settings(PROCESSING_GPU="true", PROCESSING_GPU_TOLERATIONS=raw)

    with pytest.raises(ConfigError) as caught:
        build_job(settings, MEDIA_ID)

    assert caught.value.variable == "PROCESSING_GPU_TOLERATIONS"
    assert "PROCESSING_GPU_TOLERATIONS" in str(caught.value)


def test_tolerations_are_ignored_without_gpu() -> None:
    settings = processing_settings(PROCESSING_GPU_TOLERATIONS="not a toleration")

    assert "tolerations" not in pod_spec(build_job(settings, MEDIA_ID))


def test_bad_node_selector_names_the_variable() -> None:
    settings = processing_settings(
        PROCESSING_GPU="true", PROCESSING_GPU_NODE_SELECTOR="gpu type=nvidia"
    )

    with pytest.raises(ConfigError) as caught:
        build_job(settings, MEDIA_ID)

    assert caught.value.variable == "PROCESSING_GPU_NODE_SELECTOR"


@pytest.mark.parametrize(
    ("environ", "variable"),
    [
        ({"PROCESSING_JOB_CPU_LIMIT": "four"}, "PROCESSING_JOB_CPU_LIMIT"),
        ({"PROCESSING_JOB_MEMORY_REQUEST": "1GB"}, "PROCESSING_JOB_MEMORY_REQUEST"),
        ({"PROCESSING_JOB_CPU_REQUEST": "8"}, "PROCESSING_JOB_CPU_REQUEST"),  # above the limit 4
        (
            {"PROCESSING_JOB_MEMORY_REQUEST": "5Gi", "PROCESSING_JOB_MEMORY_LIMIT": "4G"},
            "PROCESSING_JOB_MEMORY_REQUEST",
        ),
    ],
)
def test_bad_resources_name_the_variable(environ: dict[str, str], variable: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_job(processing_settings(**environ), MEDIA_ID)

    assert caught.value.variable == variable


def test_unusual_but_valid_quantities_are_accepted() -> None:
    settings = processing_settings(
        PROCESSING_JOB_CPU_REQUEST="1500m",
        PROCESSING_JOB_CPU_LIMIT="2.5",
        PROCESSING_JOB_MEMORY_REQUEST="1e9",
        PROCESSING_JOB_MEMORY_LIMIT="1Gi",
    )

    job = build_job(settings, MEDIA_ID)

    assert container(job)["resources"]["requests"] == {"cpu": "1500m", "memory": "1e9"}
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)


def test_gpu_runtime_class_when_configured() -> None:
    plain = build_job(processing_settings(PROCESSING_GPU="true"), MEDIA_ID)
    assert "runtimeClassName" not in pod_spec(plain)
    job = build_job(
        processing_settings(PROCESSING_GPU="true", PROCESSING_GPU_RUNTIME_CLASS="nvidia"), MEDIA_ID
    )
    assert pod_spec(job)["runtimeClassName"] == "nvidia"
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
