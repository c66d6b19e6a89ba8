"""Create a media's transcode Job through the Kubernetes API (PROCESSING_EXECUTOR=kubernetes).

The kubernetes client is imported only when first needed, so that the worker's cold start in
local mode does not pay for it.
"""

from __future__ import annotations

import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mediavault.config import ProcessingSettings
from mediavault.errors import ConfigError
from processing.errors import PermanentProcessingError, TransientProcessingError
from processing.kube import build_job

if TYPE_CHECKING:
    from kubernetes.client import ApiClient, BatchV1Api

log = logging.getLogger(__name__)

REQUEST_TIMEOUT = (5.0, 30.0)  # connect, read: a hung API server must not stall the worker
# kubernetes 37.0.2 sends bodies without a Content-Type (and ignores `_content_type`): say JSON
# rather than rely on the API server, or a proxy in front of it, guessing.
JSON_HEADERS = {"Content-Type": "application/json"}
FINISHED_CONDITIONS = ("Complete", "Failed")


class KubernetesJobRejected(PermanentProcessingError):
    """The API server refused the Job for good (403, 422, ...): retrying the same request fails."""

    def __init__(self, reason: str, *, status: int, api_reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.api_reason = api_reason


@dataclass(frozen=True)
class _Answer:
    """A status the caller handles itself (409, 404) instead of an exception."""

    status: int
    api_reason: str
    message: str


@dataclass(frozen=True)
class FailedJob:
    """A transcode Job whose Failed condition is set, and why."""

    uid: str
    media_id: str
    reason: str


class _HasMediaId(Protocol):
    @property
    def media_id(self) -> str: ...


class KubernetesDispatcher:
    """Creates the transcode Job of a media in the configured namespace."""

    def __init__(
        self,
        settings: ProcessingSettings,
        *,
        api_client: ApiClient | None = None,
        batch_api: BatchV1Api | None = None,
        request_timeout: tuple[float, float] = REQUEST_TIMEOUT,
    ) -> None:
        # Malformed Job settings fail here, at the worker's start, not on every upload.
        build_job(settings, str(uuid.UUID(int=0)))
        self._settings = settings
        self._api_client = api_client
        self._batch_api = batch_api
        self._owns_client = False
        self._request_timeout = request_timeout
        self._lock = threading.Lock()

    def connect(self) -> None:
        """Load the cluster credentials now (in-cluster, else kubeconfig) rather than lazily."""
        self._api()

    def dispatch(self, media_id: str) -> bool:
        """Create the media's Job: True when created, False when one is already at work on it."""
        body = build_job(self._settings, media_id)
        name, namespace = body["metadata"]["name"], self._settings.k8s_namespace
        if self._create(body):
            log.info("created Job %s/%s for media %s", namespace, name, media_id)
            return True
        # The name is taken. A running Job is this very transcode: the event is a duplicate. A
        # finished one (kept for ttlSecondsAfterFinished) is an earlier attempt's: a retry must
        # replace it, or it would be dropped until the TTL ran out.
        finished_uid = self._finished_uid(name)
        if finished_uid is None:
            log.info("Job %s/%s is already running: duplicate event dropped", namespace, name)
            return False
        if finished_uid and not self._delete(name, finished_uid):
            log.info("Job %s/%s was replaced by another worker: dropped", namespace, name)
            return False
        if self._create(body):
            log.info("replaced finished Job %s/%s for media %s", namespace, name, media_id)
            return True
        if finished_uid and self._finished_uid(name) == finished_uid:
            raise TransientProcessingError(f"finished Job {namespace}/{name} is still going away")
        log.info("Job %s/%s was recreated by another worker: dropped", namespace, name)
        return False

    def failed_jobs(self) -> list[FailedJob]:
        """Transcode Jobs the cluster gave up on (OOMKilled, evicted, past deadline or backoff)."""
        from processing.kube import JOB_LABELS, MEDIA_ID_LABEL

        api = self._api()
        selector = ",".join(f"{key}={value}" for key, value in JOB_LABELS.items())
        listed = self._request(
            "list transcode Jobs",
            lambda: api.list_namespaced_job(
                self._settings.k8s_namespace,
                label_selector=selector,
                _request_timeout=self._request_timeout,
            ),
            handled=(),
        )
        failed = []
        for job in listed.items or []:
            conditions = (job.status.conditions if job.status else None) or []
            condition = next(
                (c for c in conditions if c.type == "Failed" and c.status == "True"), None
            )
            media_id = (job.metadata.labels or {}).get(MEDIA_ID_LABEL)
            if condition is not None and media_id:
                reason = " ".join(part for part in (condition.reason, condition.message) if part)
                failed.append(FailedJob(str(job.metadata.uid), media_id, reason or "Failed"))
        return failed

    def close(self) -> None:
        """Release the connection pool of a client this dispatcher made itself."""
        with self._lock:
            if self._owns_client and self._api_client is not None:
                client: Any = self._api_client  # ApiClient.close carries no annotations
                client.close()
                self._api_client, self._batch_api, self._owns_client = None, None, False

    def __enter__(self) -> KubernetesDispatcher:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _create(self, body: dict[str, Any]) -> bool:
        """POST the Job: True when created, False on 409 AlreadyExists."""
        from kubernetes.client import V1Job

        api, name = self._api(), body["metadata"]["name"]
        answer = self._request(
            f"create Job {name}",
            lambda: api.create_namespaced_job(
                self._settings.k8s_namespace,
                V1Job.model_validate(body),
                _headers=JSON_HEADERS,
                _request_timeout=self._request_timeout,
            ),
            handled=(409,),
        )
        if isinstance(answer, _Answer):
            if answer.api_reason not in ("AlreadyExists", ""):
                raise TransientProcessingError(
                    f"Kubernetes refused to create Job {name}: 409 {answer.api_reason}: "
                    f"{answer.message}"
                )
            return False
        return True

    def _finished_uid(self, name: str) -> str | None:
        """The uid of the Job if it has finished, "" if it is gone, None if it still runs."""
        api = self._api()
        job = self._request(
            f"read Job {name}",
            lambda: api.read_namespaced_job(
                name, self._settings.k8s_namespace, _request_timeout=self._request_timeout
            ),
            handled=(404,),
        )
        if isinstance(job, _Answer):
            return ""
        conditions = (job.status.conditions if job.status else None) or []
        finished = any(c.type in FINISHED_CONDITIONS and c.status == "True" for c in conditions)
        return str(job.metadata.uid) if finished else None

    def _delete(self, name: str, uid: str) -> bool:
        """Delete that very Job (uid precondition): False when another has taken its name."""
        from kubernetes.client import V1DeleteOptions, V1Preconditions

        api = self._api()
        options = V1DeleteOptions(
            propagation_policy="Background", preconditions=V1Preconditions(uid=uid)
        )
        answer = self._request(
            f"delete finished Job {name}",
            lambda: api.delete_namespaced_job(
                name,
                self._settings.k8s_namespace,
                body=options,
                _headers=JSON_HEADERS,
                _request_timeout=self._request_timeout,
            ),
            handled=(404, 409),
        )
        return not (isinstance(answer, _Answer) and answer.status == 409)

    def _request(self, what: str, call: Callable[[], Any], *, handled: tuple[int, ...]) -> Any:
        """One API call; a handled status comes back as an _Answer, other trouble is raised."""
        from kubernetes.client.exceptions import ApiException
        from urllib3.exceptions import HTTPError as Urllib3Error

        try:
            return call()
        except ApiException as error:
            status = int(error.status or 0)
            api_reason, message = _status_details(error.body, fallback=str(error.reason or ""))
            if status in handled:
                return _Answer(status, api_reason, message)
            raise _api_error(what, status, api_reason, message) from error
        except (Urllib3Error, OSError) as error:
            raise TransientProcessingError(
                f"could not reach the Kubernetes API to {what}: {error}"
            ) from error

    def _api(self) -> BatchV1Api:
        """The BatchV1Api, made on first use from the given client or the cluster's credentials."""
        with self._lock:
            if self._batch_api is None:
                try:
                    from kubernetes.client import BatchV1Api
                except ImportError:
                    raise ConfigError(
                        "PROCESSING_EXECUTOR",
                        "kubernetes needs the `kubernetes` package in the worker's image",
                    ) from None
                if self._api_client is None:
                    self._api_client, self._owns_client = _cluster_api_client(), True
                self._batch_api = BatchV1Api(self._api_client)
            return self._batch_api


def kubernetes_dispatcher(settings: ProcessingSettings) -> KubernetesDispatcher:
    """The worker's dispatcher: connects now, so bad credentials stop the start-up."""
    dispatcher = KubernetesDispatcher(settings)
    dispatcher.connect()
    return dispatcher


def _api_error(what: str, status: int, api_reason: str, message: str) -> Exception:
    """4xx is the request's fault (permanent); 408, 429, 5xx and a full quota pass (transient)."""
    summary = f"Kubernetes refused to {what}: {status} {api_reason}: {message}"
    # A full ResourceQuota (403) frees up as other transcodes finish: wait, do not fail.
    quota_full = status == 403 and "exceeded quota" in message
    if 400 <= status < 500 and status not in (408, 409, 429) and not quota_full:
        return KubernetesJobRejected(summary, status=status, api_reason=api_reason)
    return TransientProcessingError(summary)


def _status_details(body: Any, *, fallback: str) -> tuple[str, str]:
    """The `reason` and `message` of a Kubernetes Status body, when it is one."""
    try:
        status = json.loads(body) if isinstance(body, str | bytes) else None
    except ValueError:
        status = None
    if not isinstance(status, dict):
        return "", (str(body).strip() if body else fallback)[:500]
    return str(status.get("reason") or ""), str(status.get("message") or fallback)[:500]


def _cluster_api_client() -> ApiClient:
    """An ApiClient from the pod's service account, or else the local kubeconfig."""
    from kubernetes import config as kube_config
    from kubernetes.client import ApiClient, Configuration

    config: Any = kube_config  # its loaders carry no annotations
    # A private Configuration: the library's global default is shared mutable state.
    configuration = Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException as in_cluster:
        try:
            config.load_kube_config(client_configuration=configuration, persist_config=False)
        except (config.ConfigException, OSError) as kubeconfig:
            raise ConfigError(
                "PROCESSING_EXECUTOR",
                f"kubernetes needs cluster credentials: no in-cluster service account "
                f"({in_cluster}) and no usable kubeconfig ({kubeconfig})",
            ) from kubeconfig
    return ApiClient(configuration)
