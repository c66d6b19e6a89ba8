"""The Kubernetes Job executor against a fake API: create, dedupe, replace, refuse, fail."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient, Configuration

from mediavault.config import Settings
from mediavault.errors import ConfigError
from mediavault.services import Services
from processing.errors import PermanentProcessingError, TransientProcessingError
from processing.kube import build_job, job_name
from processing.kube_dispatch import (
    KubernetesDispatcher,
    KubernetesJobRejected,
    kubernetes_dispatcher,
)
from tests.api_fixtures import ApiUser
from tests.harness import Stack, nsq_collector, poll
from tests.kube_fixtures import (
    GPU_ENV,
    MEDIA_ID,
    FakeKubernetes,
    processing_settings,
    use_kubeconfig,
)
from tests.worker_fixtures import status_of


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

    dispatcher = kubernetes_dispatcher(processing_settings())

    assert dispatcher.dispatch(MEDIA_ID) is True
    assert dispatcher.dispatch(MEDIA_ID) is False
    assert list(fake.jobs) == [("mediavault", job_name(MEDIA_ID))]


def test_failed_jobs_are_listed_with_their_reason(
    fake_kubernetes: tuple[FakeKubernetes, str], api_client: ApiClient
) -> None:
    fake, _ = fake_kubernetes
    dispatcher = KubernetesDispatcher(processing_settings(), api_client=api_client)
    done, failed, running = (str(uuid.uuid4()) for _ in range(3))
    for media_id in (done, failed, running):
        assert dispatcher.dispatch(media_id) is True
    fake.finish(job_name(done), "Complete")
    uid = fake.finish(job_name(failed), "Failed", reason="BackoffLimitExceeded")

    [found] = dispatcher.failed_jobs()
    assert (found.uid, found.media_id, found.reason) == (uid, failed, "BackoffLimitExceeded")


def test_the_worker_requeues_the_media_of_a_job_that_died(
    fake_kubernetes: tuple[FakeKubernetes, str], api_client: ApiClient, stack: Stack,
    services: Services, alice: ApiUser,
) -> None:  # fmt: skip
    from processing.encoders import EncoderChoice
    from processing.metrics import WorkerMetrics
    from processing.worker import Worker

    fake, _ = fake_kubernetes
    # A topic of its own: the test stack's worker must not take the requeued event.
    settings = Settings.from_env({**stack.env, "PROCESSING_EXECUTOR": "kubernetes",
                                  "PROCESSING_MAX_ATTEMPTS": "2",
                                  "NSQ_TOPIC": f"failed-jobs-{uuid.uuid4().hex[:8]}"})  # fmt: skip
    worker_services = Services(settings, services.pool, services.storage)
    dispatcher = KubernetesDispatcher(settings.processing, api_client=api_client)
    worker = Worker(worker_services, EncoderChoice(encoder="libx265", requested="auto"),
                    WorkerMetrics(settings.queue), dispatcher)  # fmt: skip
    media_id = str(uuid.uuid4())
    with services.pool.connection() as conn:
        conn.execute(
            "INSERT INTO media (id, owner_id, filename, content_type, size_bytes, upload_key,"
            " status) VALUES (%s, %s, 'a.mp4', 'video/mp4', 10, %s, 'processing')",
            (media_id, alice.id, f"uploads/{media_id}"),
        )
        conn.execute(
            "INSERT INTO processing_jobs (media_id, state, attempts, heartbeat_at)"
            " VALUES (%s, 'running', 1, now())",
            (media_id,),
        )
    dispatcher.dispatch(media_id)
    fake.finish(job_name(media_id), "Failed", reason="DeadlineExceeded")
    queue = settings.queue
    with nsq_collector(queue.nsqd_tcp_address, queue.topic, "test") as events:
        worker.check_failed_jobs()
        row = status_of(services, media_id)
        assert (row["status"], row["state"]) == ("processing", "queued")  # claimable again
        poll(lambda: any(media_id.encode() in body for body in events.snapshot()),
             "the media queued again (after its backoff)", 30)  # fmt: skip
    assert "DeadlineExceeded" in (row["error"] or _job_error(services, media_id))

    # Its last attempt: the Job's death fails the media, with the reason.
    with services.pool.connection() as conn:
        conn.execute("UPDATE processing_jobs SET attempts = 2, state = 'running'"
                     " WHERE media_id = %s", (media_id,))  # fmt: skip
    fake.reset()
    dispatcher.dispatch(media_id)
    fake.finish(job_name(media_id), "Failed", reason="BackoffLimitExceeded")
    worker.check_failed_jobs()
    row = status_of(services, media_id)
    assert row["status"] == "failed"
    assert "BackoffLimitExceeded" in row["error"]


def _job_error(services: Services, media_id: str) -> str:
    with services.pool.connection() as conn:
        row = conn.execute(
            "SELECT error FROM processing_jobs WHERE media_id = %s", (media_id,)
        ).fetchone()
    return str(row["error"]) if row else ""
