"""The worker as deployed: the settings it reads, the Jobs it builds from them, its RBAC."""

from __future__ import annotations

import dataclasses
import re
import uuid
from typing import Any

import kubernetes_validate
import pytest
import yaml

from infra_pulumi.appconfig import JOB_MEMORY_HEADROOM
from mediavault.config import ProcessingSettings, Settings
from processing.kube import GPU_RESOURCE, NON_ROOT_UID, build_job, quantity
from tests.infra_fixtures import (
    DUMMY_SECRETS,
    GPU_CONFIG,
    ROOT,
    SECRET_VARIABLES,
    by_kind,
    container_environment,
    containers,
    env_example_variables,
    kube_objects,
    settings_variables,
)

MANIFESTS = ROOT / "manifests"
KUBERNETES_VERSION = "1.33.0"
WORKER = "mediavault-worker"
CONFIG_MAP = "mediavault-config"
# Variables read by the third-party images (or our images' entry points), not by Settings.
PLATFORM_VARIABLES = {
    "FUNCTION_TARGET", "FUNCTION_SOURCE",  # docker/Dockerfile.functions' CMD
    "NVIDIA_DRIVER_CAPABILITIES",  # the NVIDIA container runtime, in GPU Jobs
    "POD_NAME",  # nsqd's --broadcast-address
    "PGDATA",  # the postgres image
    "HOME", "MINIO_UPDATE", "MINIO_BROWSER", "MINIO_NOTIFY_NSQ_ENABLE",
    "MINIO_NOTIFY_NSQ_NSQD_ADDRESS", "MINIO_NOTIFY_NSQ_TOPIC", "MINIO_NOTIFY_NSQ_QUEUE_DIR",
}  # fmt: skip
# kubernetes-client BatchV1Api method → the RBAC verb it needs.
CLIENT_VERBS = {
    "create": "create", "read": "get", "list": "list", "patch": "patch",
    "replace": "update", "delete": "delete",
}  # fmt: skip


def _flavour(name: str) -> list[dict[str, Any]]:
    """The objects `skaffold dev` applies with (gpu) or without (cpu) the gpu profile."""
    paths = sorted(MANIFESTS.glob("*.yaml")) + sorted((MANIFESTS / name).glob("*.yaml"))
    return [doc for path in paths for doc in yaml.safe_load_all(path.read_text()) if doc]


FLAVOURS = {"cpu": _flavour("cpu"), "gpu": _flavour("gpu")}


def _worker(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    (deployment,) = [d for d in by_kind(docs, "Deployment") if d["metadata"]["name"] == WORKER]
    (container,) = containers(deployment)
    return deployment, container


def _worker_settings(docs: list[dict[str, Any]]) -> Settings:
    deployment, container = _worker(docs)
    return Settings.from_env(container_environment(deployment, container, docs), sign_in=False)


def _config_map(docs: list[dict[str, Any]]) -> dict[str, str]:
    (config,) = [d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == CONFIG_MAP]
    data: dict[str, str] = config["data"]
    return data


def unknown_variables(names: set[str]) -> set[str]:
    """Names that neither MediaVault's settings, .env.example nor a platform image reads."""
    return names - settings_variables() - env_example_variables() - PLATFORM_VARIABLES


def test_the_settings_parser_sees_every_processing_field() -> None:
    names = settings_variables("ProcessingSettings")
    assert len(names) == len(dataclasses.fields(ProcessingSettings))
    assert {"PROCESSING_GPU_TOLERATIONS", "K8S_NAMESPACE", "WORKER_HOST"} <= names
    assert names <= env_example_variables()


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_worker_env_sets_every_processing_setting_and_production_accepts_it(flavour: str) -> None:
    docs = FLAVOURS[flavour]
    deployment, container = _worker(docs)
    env = container_environment(deployment, container, docs)
    assert env["MEDIAVAULT_ENV"] == "production"
    missing = settings_variables("ProcessingSettings") - set(env)
    assert not missing, f"the worker leaves these to defaults: {sorted(missing)}"
    settings = Settings.from_env(env, sign_in=False)
    processing = settings.processing
    assert processing.executor == "kubernetes"
    assert processing.gpu_enabled is (flavour == "gpu")
    assert processing.job_image == container["image"]
    (role,) = by_kind(docs, "Role")
    assert processing.k8s_namespace == deployment["metadata"]["namespace"]
    assert processing.k8s_namespace == role["metadata"]["namespace"]
    accounts = {d["metadata"]["name"] for d in by_kind(docs, "ServiceAccount")}
    assert processing.job_service_account in accounts
    assert (
        processing.job_service_account
        != deployment["spec"]["template"]["spec"]["serviceAccountName"]
    ), "Jobs must not carry the worker's Job-creating identity"
    config_maps = {d["metadata"]["name"] for d in by_kind(docs, "ConfigMap")}
    assert processing.job_env_configmap in config_maps
    # The Jobs get exactly the worker's Secrets.
    assert [{"secretRef": {"name": name}} for name in processing.job_env_secrets] == [
        source for source in container["envFrom"] if "secretRef" in source
    ]


def test_no_secret_in_the_config_map_or_the_worker_env() -> None:
    docs = FLAVOURS["gpu"]
    (config,) = [
        d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "mediavault-config"
    ]
    assert not set(config["data"]) & SECRET_VARIABLES
    _, container = _worker(docs)
    literal = {item["name"] for item in container["env"] if "value" in item}
    assert not literal & SECRET_VARIABLES


def test_no_env_var_in_the_manifests_is_unknown() -> None:
    # What the Secrets hold too (they are not rendered; the program's are checked against these).
    names: set[str] = set(SECRET_VARIABLES)
    for docs in FLAVOURS.values():
        job = build_job(_worker_settings(docs).processing, str(uuid.uuid4()))
        for doc in [*docs, job]:
            if doc["kind"] == "ConfigMap":
                names |= set(doc.get("data", {}))
            for container in containers(doc):
                names |= {item["name"] for item in container.get("env", [])}
    assert {"PROCESSING_IMAGE", "S3_WORKER_SECRET_KEY", "NVIDIA_DRIVER_CAPABILITIES"} <= names
    assert not unknown_variables(names)


def test_unknown_variables_catches_dead_and_misspelt_settings() -> None:
    dead = {"PROCESSING_JOB_TEMPLATE_DIR", "PROCESSING_JOB_NAMESPACE", "WORKER_PROT"}
    assert unknown_variables(dead | {"WORKER_PORT", "MINIO_BROWSER"}) == dead


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_the_job_the_worker_builds_from_its_env_is_valid_and_admitted(flavour: str) -> None:
    docs = FLAVOURS[flavour]
    job = build_job(_worker_settings(docs).processing, str(uuid.uuid4()))
    kubernetes_validate.validate(job, KUBERNETES_VERSION, strict=True)
    pod = job["spec"]["template"]
    (container,) = pod["spec"]["containers"]
    assert container["image"] == _worker(docs)[1]["image"]
    assert pod["spec"]["securityContext"]["runAsUser"] == _dockerfile_uid()
    limits = container["resources"]["limits"]
    assert (GPU_RESOURCE in limits) is (flavour == "gpu")
    # The NetworkPolicies must let the Job reach PostgreSQL, MinIO and NSQ.
    for policy in by_kind(docs, "NetworkPolicy"):
        if "Ingress" not in policy["spec"]["policyTypes"]:
            continue
        peers = [p["podSelector"]["matchLabels"] for p in policy["spec"]["ingress"][0]["from"]]
        assert any(peer.items() <= pod["metadata"]["labels"].items() for peer in peers)


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_a_jobs_limits_fit_inside_its_pod(flavour: str) -> None:
    docs = FLAVOURS[flavour]
    job = build_job(_worker_settings(docs).processing, str(uuid.uuid4()))
    (container,) = job["spec"]["template"]["spec"]["containers"]
    # What the Job itself reads: the ConfigMap and its Secrets, not the worker's own variables.
    env = container_environment(job, container, docs)
    processing = Settings.from_env(env, sign_in=False).processing
    memory_limit = quantity("limit", container["resources"]["limits"]["memory"])
    # ffmpeg hits its own address-space cap (a clear `failed`) before the cgroup OOM-kills the Job.
    assert 0 < processing.max_memory_bytes <= memory_limit - JOB_MEMORY_HEADROOM
    # The Job's scratch directory is the emptyDir with a sizeLimit.
    (mount,) = container["volumeMounts"]
    assert mount["mountPath"] == processing.scratch_dir
    (volume,) = [
        v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == mount["name"]
    ]
    assert volume["emptyDir"]["sizeLimit"]
    # Kubernetes' deadline never cuts short a job MediaVault's own timeout would still allow.
    assert job["spec"]["activeDeadlineSeconds"] > processing.job_timeout_seconds
    # The worker's /tmp is bounded too.
    deployment, worker = _worker(docs)
    (tmp,) = deployment["spec"]["template"]["spec"]["volumes"]
    assert tmp["emptyDir"]["sizeLimit"]
    assert [m["mountPath"] for m in worker["volumeMounts"]] == ["/tmp"]


def test_ffmpegs_memory_follows_the_jobs_limit_and_a_tiny_limit_stops_the_program() -> None:
    docs = kube_objects(jobMemoryLimit="8Gi")
    assert _config_map(docs)["PROCESSING_MAX_MEMORY_BYTES"] == str(
        8 * 1024**3 - JOB_MEMORY_HEADROOM
    )
    with pytest.raises(ValueError, match=r"refuse.*PROCESSING_JOB_MEMORY_LIMIT.*jobMemoryLimit"):
        kube_objects(jobMemoryLimit="768Mi", jobMemoryRequest="512Mi")


def test_gpu_config_reaches_the_jobs() -> None:
    docs = kube_objects(**GPU_CONFIG)
    job = build_job(_worker_settings(docs).processing, str(uuid.uuid4()))
    spec = job["spec"]["template"]["spec"]
    assert spec["containers"][0]["resources"]["limits"][GPU_RESOURCE] == "1"
    assert spec["nodeSelector"] == {"gpu": "nvidia"}
    assert spec["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "gpu", "effect": "NoExecute"},
    ]
    # No encoder is forced: `auto` test-encodes with NVENC in each Job and falls back loudly.
    (config,) = [
        d for d in by_kind(docs, "ConfigMap") if d["metadata"]["name"] == "mediavault-config"
    ]
    assert config["data"]["TRANSCODE_ENCODER"] == "auto"


def test_job_resources_come_from_config_and_bad_ones_stop_the_program() -> None:
    docs = kube_objects(jobCpuRequest="2", jobMemoryLimit="8Gi")
    processing = _worker_settings(docs).processing
    assert (processing.job_cpu_request, processing.job_memory_limit) == ("2", "8Gi")
    with pytest.raises(ValueError, match=r"refuse.*PROCESSING_JOB_CPU_REQUEST"):
        kube_objects(jobCpuRequest="8")  # above the default limit of 4
    with pytest.raises(ValueError, match=r"refuse.*PROCESSING_GPU_TOLERATIONS"):
        kube_objects(gpuEnabled="true", gpuTolerations='["nvidia.com/gpu:Sometimes"]')


def test_a_stack_production_would_refuse_stops_the_program() -> None:
    with pytest.raises(ValueError, match=r"refuse.*DISCORD_CLIENT_ID"):
        kube_objects(discordClientId="")


@pytest.mark.parametrize("flavour", sorted(FLAVOURS))
def test_probes_and_scraping_use_the_port_the_worker_binds(flavour: str) -> None:
    docs = FLAVOURS[flavour]
    deployment, container = _worker(docs)
    processing = _worker_settings(docs).processing
    assert processing.host == "0.0.0.0"  # noqa: S104  (the default 127.0.0.1 fails every probe)
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    for probe in (container["readinessProbe"], container["livenessProbe"]):
        assert probe["httpGet"]["path"] == "/healthz"
        assert ports[probe["httpGet"]["port"]] == processing.port
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/port"] == str(processing.port)
    assert annotations["prometheus.io/path"] == "/metrics"


def test_the_service_monitor_scrapes_the_worker_port() -> None:
    docs = kube_objects(monitoringServiceMonitor="true", workerPort="9100")
    processing = _worker_settings(docs).processing
    assert processing.port == 9100
    (monitor,) = by_kind(docs, "ServiceMonitor")
    (endpoint,) = monitor["spec"]["endpoints"]
    (service,) = [d for d in by_kind(docs, "Service") if d["metadata"]["name"].endswith("-metrics")]
    (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
    assert port["port"] == 9100
    assert (
        service["spec"]["selector"].items()
        <= _worker(docs)[0]["spec"]["template"]["metadata"]["labels"].items()
    )


def test_the_role_grants_exactly_what_dispatch_calls() -> None:
    source = (ROOT / "processing" / "kube_dispatch.py").read_text()
    calls = set(re.findall(r"\.(\w+)_namespaced_job\(", source))
    assert calls, "kube_dispatch.py no longer calls BatchV1Api as expected"
    (role,) = by_kind(FLAVOURS["cpu"], "Role")
    (rule,) = role["rules"]
    assert rule["apiGroups"] == ["batch"]
    assert rule["resources"] == ["jobs"]
    assert sorted(rule["verbs"]) == sorted(CLIENT_VERBS[call] for call in calls)


def _dockerfile_uid() -> int:
    text = (ROOT / "docker" / "Dockerfile.processing").read_text()
    users = re.findall(r"^USER (\d+)(?::\d+)?$", text, re.MULTILINE)
    assert users
    return int(users[-1])


def test_processing_image_runs_as_the_job_uid_and_keeps_kubernetes() -> None:
    assert _dockerfile_uid() == NON_ROOT_UID
    text = (ROOT / "docker" / "Dockerfile.processing").read_text()
    match = re.search(r"grep -vE '([^']+)'[\s\\]*requirements\.txt", text)
    assert match
    dropped = re.compile(match.group(1))
    pins = [line for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line]
    kept = {line.split("==")[0] for line in pins if not dropped.search(line)}
    assert "kubernetes" in kept, "the worker imports it with PROCESSING_EXECUTOR=kubernetes"
    assert not {"pulumi", "pulumi-kubernetes", "honcho"} & kept


def test_skaffold_rewrites_the_image_the_worker_gives_its_jobs() -> None:
    config = yaml.safe_load((ROOT / "skaffold.yaml").read_text())
    built = {a["image"]: f"{a['image']}:abc123" for a in config["build"]["artifacts"]}
    deployment, _ = _worker(FLAVOURS["cpu"])
    rewritten = _skaffold_replace(deployment, config, built)
    (container,) = containers(rewritten)
    env = {item["name"]: item.get("value") for item in container["env"]}
    assert container["image"] == "mediavault-processing:abc123"
    assert env["PROCESSING_IMAGE"] == container["image"]
    # Only values naming a built artifact change.
    assert env["PROCESSING_JOB_CONFIGMAP"] == "mediavault-config"


def _skaffold_replace(
    doc: dict[str, Any], config: dict[str, Any], built: dict[str, str]
) -> dict[str, Any]:
    """Skaffold's image rewrite (pkg/skaffold/kubernetes/manifest): `.*` means every `image:`
    field, a dotted path (list levels written `.*`, which Skaffold drops) one exact field."""
    (allow,) = [
        a for a in config["resourceSelector"]["allow"] if a["groupKind"] == "Deployment.apps"
    ]
    paths = {p.replace(".*", "") for p in allow["image"] if p != ".*"}

    def visit(value: Any, path: str) -> Any:
        if isinstance(value, dict):
            return {k: visit_field(k, v, f"{path}.{k}") for k, v in value.items()}
        if isinstance(value, list):
            return [visit(v, path) for v in value]
        return value

    def visit_field(key: str, value: Any, path: str) -> Any:
        if isinstance(value, str) and (key == "image" or path in paths):
            return built.get(value, value)
        return visit(value, path)

    result: dict[str, Any] = visit(doc, "")
    return result


# One `--from-literal=KEY=VALUE` of the hook; VALUE is "$(random N)", "${VAR:-…}" or plain.
_LITERAL = r"--from-literal=(\w+)=(\"[^\"]*\"|[^\s;]+)"


def test_the_secrets_skaffold_creates_hold_what_the_program_puts_in_them() -> None:
    hook = yaml.safe_load((ROOT / "skaffold.yaml").read_text())["manifests"]["hooks"]["before"]
    script = hook[0]["host"]["command"][-1]
    # `secret NAME --from-literal=…` lines (the hook's shell function) between semicolons.
    commands = [line.strip().split(maxsplit=2) for line in script.split(";")]
    created = {
        words[1]: dict(re.findall(_LITERAL, words[2]))
        for words in commands
        if words and words[0] == "secret"
    }
    program = {
        d["metadata"]["name"]: d["stringData"]["value"] for d in by_kind(kube_objects(), "Secret")
    }
    assert (
        {name: set(data) for name, data in created.items()}
        == {name: set(data) for name, data in program.items()}
        == {name: set(data) for name, data in DUMMY_SECRETS.items()}
    )
    for name, data in created.items():
        for key, value in data.items():
            if not value.startswith('"'):  # a fixed value (user names, access keys), not random
                assert value == program[name][key] == DUMMY_SECRETS[name][key], (name, key)
