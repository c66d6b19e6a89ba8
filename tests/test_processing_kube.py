"""Kubernetes executor: Job manifests against the API schema, dispatch against a fake API."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import kubernetes_validate
import pytest
from kubernetes.client import ApiClient, Configuration
from werkzeug.wrappers import Request, Response

from mediavault.config import ProcessingSettings, Settings
from mediavault.devstack.oauth import ServedApp
from mediavault.errors import ConfigError
from processing.errors import PermanentProcessingError, TransientProcessingError
from processing.kube import build_job, job_name, parse_toleration
from processing.kube_dispatch import (
    KubernetesDispatcher,
    KubernetesJobRejected,
    kubernetes_dispatch,
)

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

K8S_VERSION = "1.33"
MEDIA_ID = "0f8b7b5e-1c1d-4e5f-9a0b-123456789abc"
DNS_1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
JOBS_PATH = re.compile(r"/apis/batch/v1/namespaces/(?P<namespace>[^/]+)/jobs(/(?P<name>[^/]+))?")
GPU_ENV = {
    "PROCESSING_GPU": "true",
    "PROCESSING_GPU_COUNT": "2",
    "PROCESSING_GPU_NODE_SELECTOR": "nvidia.com/gpu.present=true,pool=transcode",
    "PROCESSING_GPU_TOLERATIONS": "nvidia.com/gpu:NoSchedule,dedicated=transcode:NoExecute",
}


def processing_settings(**environ: str) -> ProcessingSettings:
    """Processing settings read the way the worker reads them."""
    return Settings.from_env(environ).processing


def pod_spec(job: dict[str, Any]) -> dict[str, Any]:
    """The pod template's spec."""
    spec: dict[str, Any] = job["spec"]["template"]["spec"]
    return spec


def container(job: dict[str, Any]) -> dict[str, Any]:
    """The Job's only container."""
    (only,) = pod_spec(job)["containers"]
    assert isinstance(only, dict)
    return only


def use_kubeconfig(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Outside a cluster, with this kubeconfig (the library reads KUBECONFIG once, at import)."""
    from kubernetes.config import kube_config

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))


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


def test_dispatcher_refuses_bad_settings_when_made() -> None:
    settings = processing_settings(PROCESSING_GPU="true", PROCESSING_GPU_TOLERATIONS="x:Never")

    with pytest.raises(ConfigError, match="PROCESSING_GPU_TOLERATIONS"):
        KubernetesDispatcher(settings)


def test_importing_the_modules_does_not_import_kubernetes() -> None:
    code = (
        "import sys, processing.kube, processing.kube_dispatch; "
        "print(any(m.startswith('kubernetes') for m in sys.modules))"
    )

    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=30
    )

    assert result.stdout.strip() == "False"


def test_without_cluster_credentials_connect_names_the_executor(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    use_kubeconfig(monkeypatch, tmp_path / "missing-kubeconfig")
    dispatcher = KubernetesDispatcher(processing_settings())

    with pytest.raises(ConfigError) as caught:
        dispatcher.connect()

    assert caught.value.variable == "PROCESSING_EXECUTOR"


@dataclass
class FakeKubernetes:
    """POST …/namespaces/<ns>/jobs: 201, then 409 AlreadyExists for that name; or a set failure."""

    jobs: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)
    posts: int = 0
    content_types: list[tuple[str, str]] = field(default_factory=list)
    deletes: list[dict[str, Any]] = field(default_factory=list)
    fail_status: int | None = None
    fail_reason: str = "Forbidden"
    fail_message: str = 'jobs.batch is forbidden: User "system:serviceaccount:x" cannot create'
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reset(self) -> None:
        """Forget every Job and failure setting."""
        with self._lock:
            fresh = FakeKubernetes()
            self.jobs, self.posts, self.content_types, self.deletes = {}, 0, [], []
            self.fail_status, self.fail_reason = None, fresh.fail_reason
            self.fail_message = fresh.fail_message

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        match = JOBS_PATH.fullmatch(request.path)
        route = (request.method, match is not None and match["name"] is not None)
        if match is None or route not in {("POST", False), ("GET", True), ("DELETE", True)}:
            response = _status(404, "NotFound", f"no route for {request.method} {request.path}")
        elif request.mimetype not in ("", "application/json"):
            response = _status(415, "UnsupportedMediaType", f"unsupported {request.mimetype}")
        else:
            # Like the API server, an absent Content-Type is read as JSON.
            self.content_types.append((request.method, request.mimetype))
            body = json.loads(request.get_data() or b"null")
            with self._lock:
                response = self._answer(request.method, match["namespace"], match["name"], body)
        return response(environ, start_response)

    def _answer(self, method: str, namespace: str, name: str | None, body: Any) -> Response:
        if method == "POST":
            return self._create(namespace, body)
        key = (namespace, str(name))
        if key not in self.jobs:
            return _status(404, "NotFound", f'jobs.batch "{name}" not found')
        if method == "GET":
            return _json(self.jobs[key], 200)
        self.deletes.append(body)
        if body["preconditions"]["uid"] != self.jobs[key]["metadata"]["uid"]:
            return _status(409, "Conflict", "Precondition failed: UID in precondition")
        del self.jobs[key]
        return _json({"kind": "Status", "apiVersion": "v1", "status": "Success"}, 200)

    def _create(self, namespace: str, job: dict[str, Any]) -> Response:
        self.posts += 1
        if self.fail_status is not None:
            return _status(self.fail_status, self.fail_reason, self.fail_message)
        name = job["metadata"]["name"]
        if (namespace, name) in self.jobs:
            return _status(409, "AlreadyExists", f'jobs.batch "{name}" already exists')
        stored = {**job, "metadata": {**job["metadata"], "uid": str(uuid.uuid4())}}
        self.jobs[namespace, name] = stored
        return _json(stored, 201)

    def finish(self, name: str, condition: str) -> str:
        """Mark a stored Job finished (Complete or Failed); its uid."""
        job = next(job for (_, stored), job in self.jobs.items() if stored == name)
        job["status"] = {"conditions": [{"type": condition, "status": "True"}]}
        return str(job["metadata"]["uid"])


def _json(body: Any, code: int) -> Response:
    return Response(json.dumps(body), status=code, mimetype="application/json")


def _status(code: int, reason: str, message: str) -> Response:
    """A Kubernetes Status object, as the API server answers failures."""
    body = {
        "kind": "Status",
        "apiVersion": "v1",
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    return _json(body, code)


@pytest.fixture(scope="module")
def served_fake() -> Iterator[tuple[FakeKubernetes, str]]:
    """The fake API on a loopback port, once per module (stopping a server takes half a second)."""
    fake = FakeKubernetes()
    served = ServedApp(fake)
    try:
        yield fake, served.base_url
    finally:
        served.stop()


@pytest.fixture
def fake_kubernetes(served_fake: tuple[FakeKubernetes, str]) -> tuple[FakeKubernetes, str]:
    """The served fake, emptied for this test."""
    fake, base_url = served_fake
    fake.reset()
    return fake, base_url


@pytest.fixture
def api_client(fake_kubernetes: tuple[FakeKubernetes, str]) -> Iterator[ApiClient]:
    """A real kubernetes ApiClient pointed at the fake."""
    with ApiClient(Configuration(host=fake_kubernetes[1])) as client:
        yield client


def test_dispatch_creates_the_job_then_drops_the_duplicate(
    fake_kubernetes: tuple[FakeKubernetes, str], api_client: ApiClient
) -> None:
    fake, _ = fake_kubernetes
    settings = processing_settings(K8S_NAMESPACE="media", **GPU_ENV)
    dispatcher = KubernetesDispatcher(settings, api_client=api_client)

    assert dispatcher.dispatch(MEDIA_ID) is True
    assert dispatcher.dispatch(MEDIA_ID) is False

    assert fake.posts == 2
    assert [kind for method, kind in fake.content_types if method == "POST"] == [
        "application/json"
    ] * 2
    # What reached the API is exactly the manifest built, in the configured namespace.
    (stored,) = fake.jobs.values()
    assert list(fake.jobs) == [("media", job_name(MEDIA_ID))]
    stored["metadata"].pop("uid")
    assert stored == build_job(settings, MEDIA_ID)
    assert fake.deletes == []  # a running Job is never touched


def test_dispatch_of_another_media_creates_another_job(
    fake_kubernetes: tuple[FakeKubernetes, str], api_client: ApiClient
) -> None:
    fake, _ = fake_kubernetes
    dispatcher = KubernetesDispatcher(processing_settings(), api_client=api_client)
    other = str(uuid.uuid4())

    assert dispatcher.dispatch(MEDIA_ID) is True
    assert dispatcher.dispatch(other) is True

    assert {name for _, name in fake.jobs} == {job_name(MEDIA_ID), job_name(other)}


@pytest.mark.parametrize(("status", "reason"), [(403, "Forbidden"), (422, "Invalid")])
def test_refusals_are_permanent_and_readable(
    fake_kubernetes: tuple[FakeKubernetes, str], api_client: ApiClient, status: int, reason: str
) -> None:
    fake, _ = fake_kubernetes
    fake.fail_status, fake.fail_reason = status, reason
    dispatcher = KubernetesDispatcher(processing_settings(), api_client=api_client)

    with pytest.raises(KubernetesJobRejected) as caught:
        dispatcher.dispatch(MEDIA_ID)

    assert isinstance(caught.value, PermanentProcessingError)
    assert caught.value.status == status
    assert caught.value.api_reason == reason
    assert job_name(MEDIA_ID) in caught.value.reason
    assert "cannot create" in caught.value.reason  # the API server's own words


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [
        (403, "Forbidden", "exceeded quota: gpu-quota, requested: requests.nvidia.com/gpu=1"),
        (409, "Conflict", "the object has been modified"),
        (429, "TooManyRequests", "too many requests"),
        (500, "InternalError", "etcdserver: request timed out"),
        (503, "ServiceUnavailable", "the server is currently unable to handle the request"),
    ],
)
def test_passing_trouble_is_transient(
    fake_kubernetes: tuple[FakeKubernetes, str],
    api_client: ApiClient,
    status: int,
    reason: str,
    message: str,
) -> None:
    fake, _ = fake_kubernetes
    fake.fail_status, fake.fail_reason, fake.fail_message = status, reason, message
    dispatcher = KubernetesDispatcher(processing_settings(), api_client=api_client)

    with pytest.raises(TransientProcessingError) as caught:
        dispatcher.dispatch(MEDIA_ID)

    assert not isinstance(caught.value, PermanentProcessingError)
    assert str(status) in caught.value.reason
    assert message in caught.value.reason


def test_unreachable_api_is_transient() -> None:
    # A port bound but not listening: connecting to it is refused at once.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        configuration = Configuration(host=f"http://127.0.0.1:{holder.getsockname()[1]}")
        configuration.retries = 0
        with ApiClient(configuration) as client:
            dispatcher = KubernetesDispatcher(processing_settings(), api_client=client)

            with pytest.raises(
                TransientProcessingError, match="could not reach the Kubernetes API"
            ):
                dispatcher.dispatch(MEDIA_ID)


@pytest.mark.parametrize("condition", ["Complete", "Failed"])
def test_a_finished_job_is_replaced_so_a_retry_runs(
    fake_kubernetes: tuple[FakeKubernetes, str], api_client: ApiClient, condition: str
) -> None:
    fake, _ = fake_kubernetes
    settings = processing_settings()
    dispatcher = KubernetesDispatcher(settings, api_client=api_client)
    assert dispatcher.dispatch(MEDIA_ID) is True
    old_uid = fake.finish(job_name(MEDIA_ID), condition)

    assert dispatcher.dispatch(MEDIA_ID) is True

    (stored,) = fake.jobs.values()
    assert stored["metadata"]["uid"] != old_uid
    assert "status" not in stored
    # Exactly the finished Job was deleted, its pods left to the garbage collector.
    (delete,) = fake.deletes
    assert delete["preconditions"] == {"uid": old_uid}
    assert delete["propagationPolicy"] == "Background"


def test_replacing_loses_the_race_to_another_worker(
    fake_kubernetes: tuple[FakeKubernetes, str], api_client: ApiClient
) -> None:
    fake, _ = fake_kubernetes
    dispatcher = KubernetesDispatcher(processing_settings(), api_client=api_client)
    assert dispatcher.dispatch(MEDIA_ID) is True
    fake.finish(job_name(MEDIA_ID), "Failed")
    # Another worker replaced it between our read and our delete: the uid no longer matches.
    original_answer = fake._answer

    def replaced_before_delete(method: str, namespace: str, name: str | None, body: Any) -> Any:
        if method == "DELETE":
            fake.jobs[namespace, str(name)] = {**fake.jobs[namespace, str(name)], "status": {}}
            fake.jobs[namespace, str(name)]["metadata"] = {
                **fake.jobs[namespace, str(name)]["metadata"],
                "uid": str(uuid.uuid4()),
            }
        return original_answer(method, namespace, name, body)

    fake._answer = replaced_before_delete  # type: ignore[method-assign]

    assert dispatcher.dispatch(MEDIA_ID) is False

    assert len(fake.jobs) == 1  # the other worker's Job stands
    assert len(fake.deletes) == 1


def test_worker_adapter_reads_the_kubeconfig(
    fake_kubernetes: tuple[FakeKubernetes, str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    fake, base_url = fake_kubernetes
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "fake", "cluster": {"server": base_url}}],
                "users": [{"name": "worker", "user": {"token": "fake-token"}}],
                "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "worker"}}],
                "current-context": "fake",
            }
        )
    )
    use_kubeconfig(monkeypatch, kubeconfig)

    @dataclass(frozen=True)
    class Claimed:
        media_id: str

    dispatch = kubernetes_dispatch(processing_settings())

    assert dispatch(Claimed(MEDIA_ID)) is True
    assert dispatch(Claimed(MEDIA_ID)) is False
    assert list(fake.jobs) == [("mediavault", job_name(MEDIA_ID))]


def test_gpu_runtime_class_when_configured() -> None:
    plain = build_job(processing_settings(PROCESSING_GPU="true"), MEDIA_ID)
    assert "runtimeClassName" not in pod_spec(plain)
    job = build_job(
        processing_settings(PROCESSING_GPU="true", PROCESSING_GPU_RUNTIME_CLASS="nvidia"), MEDIA_ID
    )
    assert pod_spec(job)["runtimeClassName"] == "nvidia"
    kubernetes_validate.validate(job, K8S_VERSION, strict=True)
