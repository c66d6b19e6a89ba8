"""The warm-up: it names all a process imports lazily, and requests take turns until it is in."""

from __future__ import annotations

import importlib.abc
import importlib.machinery
import importlib.util
import json
import os
import subprocess
import sys
import threading
import types
import uuid
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Request, Response

from mediavault.function import create_function
from mediavault.services import Services
from mediavault.warmup import Warmup
from mediavault.web import Endpoint, FunctionApp, RequestContext, json_response
from tests.api_fixtures import FunctionClient, MakeUser
from tests.harness import Stack, poll
from tests.test_cold_start_burst import _media_burst, _presign_burst

ROOT = Path(__file__).resolve().parent.parent
API_MODULES = {
    "auth": "auth", "collections": "collections", "media": "media", "presign": "uploads",
    "share": "share",
}  # fmt: skip

COVERAGE = """
import json, sys
from functions_framework import create_app
from mediavault.warmup import import_all
from tests.import_graph import missing, reachable

name, api = sys.argv[1], f"mediavault.api.{sys.argv[2]}"
create_app(name, f"functions/{name}/main.py")
import_all(__import__(api, fromlist=["WARMUP"]).WARMUP)
roots = (api, "mediavault.function", "mediavault.web")
print(json.dumps(missing(reachable(roots), set(sys.modules))))
"""

WORKER_COVERAGE = """
import json, sys
import processing.command
from mediavault.warmup import import_all
from processing.worker import KUBERNETES_WARMUP, WARMUP
from tests.import_graph import missing, reachable

import_all(WARMUP + KUBERNETES_WARMUP)
roots = ("processing.command", "processing.worker")
print(json.dumps(missing(reachable(roots), set(sys.modules))))
"""

SERVE = """
import json, sys
from functions_framework import create_app
from mediavault.warmup import import_all

name, api, calls = sys.argv[1], f"mediavault.api.{sys.argv[2]}", json.loads(sys.argv[3])
client = create_app(name, f"functions/{name}/main.py").test_client()
import_all(__import__(api, fromlist=["WARMUP"]).WARMUP)
before = set(sys.modules)
statuses = [client.open(c["path"], method=c["method"], json=c["json"], headers=c["headers"])
            .status_code for c in calls]
print(json.dumps({"statuses": statuses, "new": sorted(set(sys.modules) - before)}))
"""


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> Any:
    base = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(ROOT), "LANG": "C.UTF-8"}
    done = subprocess.run(
        [sys.executable, "-c", script, *args],
        cwd=ROOT,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("name", sorted(API_MODULES))
def test_a_functions_warmup_names_every_module_its_code_may_import(name: str) -> None:
    # Read from the source, imports inside functions too: after the warm-up, none is left
    # for two requests to import at once.
    assert _run(COVERAGE, name, API_MODULES[name]) == [], "missing from its WARMUP"


def test_the_workers_warmup_names_every_module_its_code_may_import() -> None:
    assert _run(WORKER_COVERAGE) == []


def test_after_the_warmup_serving_imports_nothing(
    stack: Stack, make_user: MakeUser, services: Services, function_client: FunctionClient
) -> None:
    # What the source does not show (what libraries import on their first call) is caught here.
    for name, burst in (
        ("presign", _presign_burst(make_user(), function_client)),
        ("media", _media_burst(make_user(), services)),
    ):
        calls = json.dumps([asdict(call) for call in burst])
        served = _run(SERVE, name, API_MODULES[name], calls, env=stack.env)
        assert all(status < 500 for status in served["statuses"]), (name, served["statuses"])
        assert served["new"] == [], name


class Gated(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Made-up modules whose import blocks until the test lets it end."""

    def __init__(self) -> None:
        self.gates: dict[str, threading.Event] = {}
        self.entered: dict[str, threading.Event] = {}

    def add(self) -> str:
        name = f"gated_{uuid.uuid4().hex}"
        self.gates[name], self.entered[name] = threading.Event(), threading.Event()
        return name

    def find_spec(
        self, fullname: str, path: object = None, target: object = None
    ) -> importlib.machinery.ModuleSpec | None:
        return importlib.util.spec_from_loader(fullname, self) if fullname in self.gates else None

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> None:
        return None

    def exec_module(self, module: types.ModuleType) -> None:
        self.entered[module.__name__].set()
        self.gates[module.__name__].wait(30)


@pytest.fixture
def gated(monkeypatch: pytest.MonkeyPatch) -> Iterator[Gated]:
    finder = Gated()
    monkeypatch.setattr(sys, "meta_path", [finder, *sys.meta_path])
    try:
        yield finder
    finally:
        for name, gate in finder.gates.items():
            gate.set()
            sys.modules.pop(name, None)


def test_a_first_request_waits_for_the_import_under_way_not_for_all(gated: Gated) -> None:
    one, two = gated.add(), gated.add()
    warmup = Warmup((one, two))
    warmup.start()
    assert gated.entered[one].wait(10)
    seen: dict[str, bool] = {}

    def request() -> None:
        with warmup.turn():
            seen["importing meanwhile"] = gated.entered[two].is_set()

    thread = threading.Thread(target=request)
    thread.start()
    poll(lambda: warmup.waiting == 1, "the request in line")
    assert seen == {}  # never while a module is being imported
    gated.gates[one].set()
    thread.join(10)
    assert seen == {"importing meanwhile": False}  # its turn came before the next module
    assert gated.entered[two].wait(10)
    assert not warmup.join(0)
    gated.gates[two].set()
    assert warmup.join(10)
    with warmup.turn():  # once all are in, requests no longer take turns
        assert warmup.waiting == 0


def _app(stack: Stack, services: Services, warmup: tuple[str, ...]) -> Client:
    def hello(context: RequestContext) -> Response:
        return json_response({"hello": "world"})

    app: FunctionApp = create_function(
        "probe",
        lambda registry: [Endpoint("/api/hello", ("GET",), hello)],
        settings=stack.settings,
        services=services,
        warmup=warmup,
    )

    def wsgi(environ, start_response):  # type: ignore[no-untyped-def]
        return app(Request(environ))(environ, start_response)

    return Client(wsgi)


def test_healthz_answers_while_the_imports_are_still_under_way(
    stack: Stack, services: Services, gated: Gated
) -> None:
    slow = gated.add()
    client = _app(stack, services, (slow,))
    assert client.get("/healthz").status_code == 200  # it started the imports, not waited
    assert gated.entered[slow].wait(10)
    assert client.get("/healthz").status_code == 200
    answers: list[int] = []
    thread = threading.Thread(target=lambda: answers.append(client.get("/api/hello").status_code))
    thread.start()
    gated.gates[slow].set()
    thread.join(10)
    assert answers == [200]


def test_a_failed_first_import_makes_the_process_unready(stack: Stack, services: Services) -> None:
    client = _app(stack, services, ("mediavault_no_such_module",))
    refused = client.get("/api/hello")
    assert refused.status_code == 503
    assert refused.headers["Retry-After"].isdigit()
    assert refused.json == {
        "error": {"code": "service_unavailable", "message": "this function cannot serve; retry"}
    }
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json is not None
    assert health.json["checks"]["imports"].startswith("failed: ModuleNotFoundError")


def test_a_module_left_holding_a_dead_module_makes_the_process_unready(
    stack: Stack, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What a failed concurrent import leaves: minio.api kept the urllib3 whose import failed.
    name = f"mediavault_probe_{uuid.uuid4().hex}"
    module = types.ModuleType(name)
    monkeypatch.setitem(sys.modules, name, module)
    client = _app(stack, services, (name,))
    assert client.get("/api/hello").status_code == 200
    assert client.get("/healthz").status_code == 200
    module.urllib3 = types.ModuleType("urllib3")  # type: ignore[attr-defined]
    health = client.get("/healthz")
    assert health.status_code == 503
    assert health.json is not None
    assert health.json["checks"]["imports"] == (
        f"failed: {name}.urllib3 refers to a module whose import failed"
    )
