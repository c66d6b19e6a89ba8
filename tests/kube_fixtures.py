"""A fake Kubernetes API for the Job executor's tests, until a real API server runs here."""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from kubernetes.client import ApiClient, Configuration
from werkzeug.wrappers import Request, Response

from mediavault.config import ProcessingSettings, Settings
from mediavault.devstack.oauth import ServedApp

if TYPE_CHECKING:
    from wsgiref.types import StartResponse, WSGIEnvironment

MEDIA_ID = "0f8b7b5e-1c1d-4e5f-9a0b-123456789abc"
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


def use_kubeconfig(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    """Outside a cluster, with this kubeconfig (the library reads KUBECONFIG once, at import)."""
    from kubernetes.config import kube_config

    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    monkeypatch.setattr(kube_config, "KUBE_CONFIG_DEFAULT_LOCATION", str(path))


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
        routes = {("POST", False), ("GET", False), ("GET", True), ("DELETE", True)}
        if match is None or route not in routes:
            response = _status(404, "NotFound", f"no route for {request.method} {request.path}")
        elif request.mimetype not in ("", "application/json"):
            response = _status(415, "UnsupportedMediaType", f"unsupported {request.mimetype}")
        else:
            # Like the API server, an absent Content-Type is read as JSON.
            self.content_types.append((request.method, request.mimetype))
            body = json.loads(request.get_data() or b"null")
            with self._lock:
                if route == ("GET", False):
                    response = self._list(match["namespace"], request.args.get("labelSelector"))
                else:
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

    def _list(self, namespace: str, selector: str | None) -> Response:
        wanted = dict(item.split("=", 1) for item in (selector or "").split(",") if item)
        items = [
            job
            for (job_namespace, _), job in self.jobs.items()
            if job_namespace == namespace
            and wanted.items() <= job["metadata"].get("labels", {}).items()
        ]
        body = {"kind": "JobList", "apiVersion": "batch/v1", "metadata": {}, "items": items}
        return _json(body, 200)

    def finish(self, name: str, condition: str, reason: str = "") -> str:
        """Mark a stored Job finished (Complete or Failed, with a reason); its uid."""
        job = next(job for (_, stored), job in self.jobs.items() if stored == name)
        job["status"] = {"conditions": [{"type": condition, "status": "True", "reason": reason}]}
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
