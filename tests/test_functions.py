"""Every function started standalone, exactly as its container starts it."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from werkzeug.test import Client

from mediavault.devstack.services import (
    ServiceSpec,
    ensure_database,
    function_specs,
    infrastructure,
    init_postgres_cluster,
    remove_postgres_cluster,
)
from mediavault.gateway import Gateway
from mediavault.routes import FUNCTIONS
from tests.conftest import Stack
from tests.harness import ProcessGroup, free_port, function_ports, layout_for, make_shared_dir, poll


@dataclass
class Standalone:
    """Functions running over the shared MinIO but a PostgreSQL of their own, to stop at will."""

    urls: dict[str, str]
    postgres: ServiceSpec
    processes: ProcessGroup


@pytest.fixture(scope="module")
def standalone(stack: Stack) -> Iterator[Standalone]:
    base = make_shared_dir("mediavault-fn-")
    env = {
        **stack.env,
        "POSTGRES_PORT": str(free_port()),
        "MEDIAVAULT_DEV_DIR": str(base),
        "MEDIAVAULT_DEV_FUNCTIONS_PORT": str(function_ports()),
    }
    layout = layout_for(env)
    init_postgres_cluster(layout, stack.binaries)
    processes = ProcessGroup(base, env)
    try:
        [postgres] = [s for s in infrastructure(layout, stack.binaries) if s.name == "postgres"]
        processes.start(postgres)
        ensure_database(layout)
        # The API functions; the web function needs neither store (tests/test_web_function.py).
        api = [name for name in FUNCTIONS if name != "web"]
        specs = [s for s in function_specs(layout, stack.binaries) if s.name != "fn-web"]
        for spec in specs:
            processes.start(spec, wait=False)
        urls = {name: layout.function_url(name) for name in api}
        _poll_all(list(urls.values()), 200)  # started together: their cold starts overlap
        yield Standalone(urls, postgres, processes)
    finally:
        processes.stop_all()
        remove_postgres_cluster(layout)
        shutil.rmtree(base, ignore_errors=True)


def _poll_all(urls: list[str], status: int) -> None:
    """Wait, for all functions at once, until each /healthz answers the status."""

    def wait(url: str) -> None:
        poll(lambda: _status(f"{url}/healthz") == status, f"{url}/healthz {status}")

    with ThreadPoolExecutor(len(urls)) as executor:
        for done in [executor.submit(wait, url) for url in urls]:
            done.result()


def _status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5.0).status_code
    except httpx.HTTPError:
        return None


def test_every_function_answers_healthz(standalone: Standalone) -> None:
    for name, url in standalone.urls.items():
        response = httpx.get(f"{url}/healthz")
        assert response.status_code == 200
        body = response.json()
        assert body["status"] == "ok"
        assert body["function"] == name
        assert body["checks"] == {"postgres": "ok", "minio": "ok"}


def test_metrics_are_prometheus_text_with_per_route_counters(standalone: Standalone) -> None:
    for name, url in standalone.urls.items():
        httpx.get(f"{url}/healthz")
        httpx.get(f"{url}/api/nothing-here")
        response = httpx.get(f"{url}/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        families = {f.name: f for f in text_string_to_metric_families(response.text)}
        requests = families["mediavault_http_requests"]
        labels = [s.labels for s in requests.samples if s.name.endswith("_total")]
        assert {"function": name, "route": "/healthz", "method": "GET", "status": "200"} in labels
        assert any(sample["route"] == "unmatched" for sample in labels)
        assert "mediavault_http_request_duration_seconds" in families


def test_healthz_is_503_while_postgres_is_down_and_200_when_it_is_back(
    standalone: Standalone,
) -> None:
    urls = list(standalone.urls.values())
    standalone.processes.running["postgres"].stop()
    try:
        _poll_all(urls, 503)
        response = httpx.get(f"{urls[0]}/healthz")
        body = response.json()
        assert body["error"]["code"] == "service_unavailable"
        assert body["checks"]["postgres"].startswith("down")
        assert body["checks"]["minio"] == "ok"
    finally:
        standalone.processes.start(standalone.postgres)
    _poll_all(urls, 200)


def test_the_gateway_routes_each_prefix_to_its_function(standalone: Standalone) -> None:
    client = Client(Gateway(standalone.urls))
    expected = {
        "/api/auth/me": "auth",
        "/api/uploads": "presign",
        "/api/media/123": "media",
        "/api/tags": "media",
        "/api/collections": "collections",
        "/api/share/abc": "share",
        "/s/abc": "share",
    }
    for path, function in expected.items():
        response = client.get(path)
        assert response.headers["X-MediaVault-Function"] == function, path
        if path.startswith("/api/"):
            assert response.json is not None
            assert "error" in response.json
        else:
            assert response.mimetype == "text/html"
    unknown = client.get("/nowhere")
    assert unknown.status_code == 404
    assert unknown.json == {
        "error": {"code": "not_found", "message": "no function serves /nowhere"}
    }


def test_function_sources_exist_for_every_routed_function() -> None:
    root = Path(__file__).resolve().parent.parent
    for name in FUNCTIONS:
        assert (root / "functions" / name / "main.py").is_file()
