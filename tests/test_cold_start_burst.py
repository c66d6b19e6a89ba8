"""A burst of concurrent first requests on a cold function: every one answered, none a 500.

Each function is started afresh many times, exactly as its container starts it, and its very
first requests arrive together across its routes, as after a scale to zero. Concurrent first
imports once left a process answering 500 (`partially initialized module 'urllib3.response'`),
or broken for good while /healthz said ok.
"""

from __future__ import annotations

import json
import shutil
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from mediavault.devstack.services import ServiceSpec, function_specs
from mediavault.routes import FUNCTIONS
from mediavault.services import Services
from tests.api_fixtures import FUNCTIONS_DIR, ApiUser, FunctionClient, MakeUser
from tests.conftest import Plant
from tests.harness import ProcessGroup, Stack, free_port, layout_for, make_shared_dir, poll
from tests.test_media import _insert

PROCESSES = 20  # fresh processes per function
BURST = 16  # concurrent first requests per process
AT_ONCE = 4  # processes started together: cold starts overlap, the run stays short
MIB = 1024 * 1024


@dataclass(frozen=True)
class Call:
    """One request of a burst."""

    method: str
    path: str
    json: Any = None
    headers: dict[str, str] | None = None


Burst = list[Call]
# Makes the data one process's burst needs (before the process starts), then its calls.
BurstFactory = Callable[[], Burst]


@dataclass
class Cold:
    """Starts fresh function processes on free ports, with their logs kept apart."""

    stack: Stack
    log_dir: Path
    sources: dict[str, Path]

    def spec(self, name: str, port: int) -> ServiceSpec:
        layout = layout_for(self.stack.env)
        [spec] = [s for s in function_specs(layout, self.stack.binaries) if s.name == f"fn-{name}"]
        argv = list(spec.argv)
        argv[argv.index("--port") + 1] = str(port)
        argv[argv.index("--source") + 1] = str(
            self.sources.get(name, FUNCTIONS_DIR / name / "main.py")
        )
        run_dir = self.log_dir / f"run-{name}-{port}"
        run_dir.mkdir()
        return replace(
            spec,
            name=f"{spec.name}-{port}",
            argv=tuple(argv),
            ready_url=None,
            env={**spec.env, "XDG_RUNTIME_DIR": str(run_dir)},
        )


@pytest.fixture(scope="module")
def cold(stack: Stack) -> Iterator[Cold]:
    base = make_shared_dir("mediavault-cold-")
    try:
        yield Cold(stack, base, {"web": _web_function(base)})
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _web_function(base: Path) -> Path:
    """The web function's own main.py beside a small build (it serves ../../web/build)."""
    source = base / "functions" / "web" / "main.py"
    source.parent.mkdir(parents=True)
    shutil.copy(FUNCTIONS_DIR / "web" / "main.py", source)
    build = base / "web" / "build"
    (build / "_app" / "immutable").mkdir(parents=True)
    (build / "index.html").write_text("<!doctype html><html><body>vault</body></html>")
    (build / "_app" / "immutable" / "start.abc.js").write_text("export const a = 1;")
    (build / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    return source


def _listening(port: int) -> bool:
    """True once the port takes connections (no request is sent: the burst must come first)."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _failure(response: httpx.Response | Exception) -> str | None:
    """Why an answer is an error: none may be a 5xx, except a 503 that says when to retry."""
    if isinstance(response, Exception):
        return f"{type(response).__name__}: {response}"
    if response.status_code == 503 and response.headers.get("Retry-After", "").isdigit():
        return None
    if response.status_code >= 500:
        return f"{response.status_code} {response.text[:300]}"
    return None


def _send(client: httpx.Client, base: str, call: Call) -> httpx.Response | Exception:
    try:
        return client.request(call.method, base + call.path, json=call.json, headers=call.headers)
    except httpx.HTTPError as error:
        return error


def _one_cold_start(cold: Cold, name: str, burst: Burst) -> list[str]:
    """Start the function, send the burst at once as its first requests; the errors seen."""
    port = free_port()
    group = ProcessGroup(cold.log_dir, cold.stack.env)
    running = group.start(cold.spec(name, port), wait=False)
    base = f"http://127.0.0.1:{port}"
    errors: list[str] = []
    try:
        poll(lambda: running.process.poll() is not None or _listening(port), f"{name} listening")
        assert running.process.poll() is None, running.log_tail()
        together = threading.Barrier(len(burst))

        def first(call: Call) -> httpx.Response | Exception:
            together.wait()
            return _send(client, base, call)

        with httpx.Client(timeout=60.0) as client, ThreadPoolExecutor(len(burst)) as threads:
            answers = list(threads.map(first, burst))
            errors += [f"{c.method} {c.path}: {why}" for c, a in zip(burst, answers, strict=True)
                       if (why := _failure(a)) is not None]  # fmt: skip
            # Nothing sticks: the process is healthy and serves every route afterwards.
            poll(lambda: client.get(f"{base}/healthz").status_code == 200, f"{name} healthy", 30)
            for call in burst:
                again = _send(client, base, call)
                if isinstance(again, Exception) or again.status_code >= 500:
                    errors.append(f"afterwards {call.method} {call.path}: {_failure(again)}")
    finally:
        running.stop()
    log = running.log_path.read_text(errors="replace")
    errors += [f"log: {_logged_error(line)}" for line in log.splitlines()
               if "Traceback" in line or '"severity": "ERROR"' in line]  # fmt: skip
    return errors


def _logged_error(line: str) -> str:
    """A logged error's message and the last line of its traceback."""
    try:
        entry = json.loads(line)
    except ValueError:
        return line[:400]
    last = str(entry.get("exception", "")).strip().splitlines()[-1:]
    return f"{entry.get('message')} {entry.get('route', '')}: {''.join(last)[:300]}"


def _bursts(
    name: str,
    make_user: MakeUser,
    services: Services,
    function_client: FunctionClient,
    plant: Plant,
) -> BurstFactory:
    """The data for one cold start of the function, and its 16 first requests."""
    makers: dict[str, Callable[[], Burst]] = {
        "presign": lambda: _presign_burst(make_user(), function_client),
        "media": lambda: _media_burst(make_user(), services),
        "collections": lambda: _collections_burst(make_user(), services, function_client),
        "share": lambda: _share_burst(make_user(), services, function_client, plant),
        "auth": lambda: _auth_burst(make_user()),
        "web": _web_burst,
    }
    return makers[name]


@pytest.mark.parametrize("name", FUNCTIONS)
def test_concurrent_first_requests_on_fresh_processes_all_succeed(
    name: str,
    cold: Cold,
    make_user: MakeUser,
    services: Services,
    function_client: FunctionClient,
    plant: Plant,
) -> None:
    make_burst = _bursts(name, make_user, services, function_client, plant)
    bursts = [make_burst() for _ in range(PROCESSES)]
    assert all(len(burst) == BURST for burst in bursts)
    started = time.monotonic()
    with ThreadPoolExecutor(AT_ONCE) as starts:
        seen = list(starts.map(lambda burst: _one_cold_start(cold, name, burst), bursts))
    failed = [errors for errors in seen if errors]
    assert not failed, (
        f"{len(failed)} of {PROCESSES} cold starts of {name} went wrong "
        f"({time.monotonic() - started:.0f} s):\n" + "\n".join(failed[0][:20])
    )


def _presign_burst(user: ApiUser, function_client: FunctionClient) -> Burst:
    warm = function_client("presign", MULTIPART_THRESHOLD_BYTES=str(5 * MIB))
    single = {"filename": "a.jpg", "content_type": "image/jpeg", "size_bytes": 1000}
    big = {"filename": "big.mp4", "content_type": "video/mp4", "size_bytes": 70 * MIB}

    def started(body: dict[str, Any]) -> str:
        response = warm.post("/api/uploads", json=body, headers=user.headers)
        assert response.status_code == 201, response.get_data(as_text=True)
        media_id: str = response.get_json()["media_id"]
        return media_id

    singles = [started(single) for _ in range(4)]
    multiparts = [started(big) for _ in range(3)]
    h = user.headers
    return [
        *[Call("POST", "/api/uploads", single, h) for _ in range(3)],
        *[Call("POST", "/api/uploads", big, h) for _ in range(2)],
        *[Call("DELETE", f"/api/uploads/{m}", headers=h) for m in multiparts],
        *[Call("POST", f"/api/uploads/{s}/urls", headers=h) for s in singles[:3]],
        *[Call("POST", f"/api/uploads/{s}/complete", headers=h) for s in singles[:2]],
        Call("DELETE", f"/api/uploads/{singles[3]}", headers=h),
        Call("GET", "/healthz"),
        Call("GET", "/metrics"),
    ]


def _media_burst(user: ApiUser, services: Services) -> Burst:
    ids = _insert(services, user, count=5, status="ready", thumbnail_key="derived/x/thumb.jpg")
    h = user.headers
    return [
        *[Call("GET", "/api/media", headers=h) for _ in range(3)],
        Call("GET", "/api/media?q=clip&limit=2", headers=h),
        *[Call("GET", f"/api/media/{m}", headers=h) for m in ids[:2]],
        *[Call("PATCH", f"/api/media/{m}", {"title": "t", "tags": ["sun"]}, h) for m in ids[:2]],
        *[Call("GET", "/api/tags", headers=h) for _ in range(2)],
        *[Call("DELETE", f"/api/media/{m}", headers=h) for m in ids[2:4]],
        Call("POST", f"/api/media/{ids[4]}/retry", headers=h),
        Call("GET", f"/api/media/{uuid.uuid4()}", headers=h),
        Call("GET", "/healthz"),
        Call("GET", "/metrics"),
    ]


def _collections_burst(user: ApiUser, services: Services, function_client: FunctionClient) -> Burst:
    warm = function_client("collections")
    media = _insert(services, user, count=2, status="ready")
    one = warm.post("/api/collections", json={"title": "Trip"}, headers=user.headers)
    collection = one.get_json()["id"]
    path = f"/api/collections/{collection}"
    h = user.headers
    return [
        *[Call("POST", "/api/collections", {"title": f"c{i}"}, h) for i in range(2)],
        *[Call("GET", "/api/collections", headers=h) for _ in range(3)],
        *[Call("GET", path, headers=h) for _ in range(2)],
        Call("PATCH", path, {"description": "sea"}, h),
        *[Call("PUT", f"{path}/items/{m}", headers=h) for m in media],
        Call("POST", f"{path}/shares", {"allow_download": True}, h),
        Call("POST", f"{path}/shares", {"password": "pw"}, h),
        *[Call("GET", f"{path}/shares", headers=h) for _ in range(2)],
        Call("PUT", f"{path}/order", {"media_ids": []}, h),
        Call("GET", "/healthz"),
    ]


def _share_burst(
    user: ApiUser, services: Services, function_client: FunctionClient, plant: Plant
) -> Burst:
    warm = function_client("collections")
    [media] = _insert(services, user, status="ready", thumbnail_key=f"derived/{user.id}/t.jpg")
    plant(f"derived/{user.id}/t.jpg", b"thumbnail")
    collection = warm.post("/api/collections", json={"title": "S"}, headers=user.headers)
    path = f"/api/collections/{collection.get_json()['id']}"
    warm.put(f"{path}/items/{media}", headers=user.headers)
    open_link = warm.post(f"{path}/shares", json={"allow_download": True}, headers=user.headers)
    locked_link = warm.post(f"{path}/shares", json={"password": "pw"}, headers=user.headers)
    token, locked = open_link.get_json()["token"], locked_link.get_json()["token"]
    return [
        *[Call("GET", f"/api/share/{token}") for _ in range(4)],
        *[Call("GET", f"/s/{token}") for _ in range(3)],
        *[Call("GET", f"/s/{token}/m/{media}/thumbnail") for _ in range(3)],
        *[Call("GET", f"/s/{token}/m/{media}/original") for _ in range(2)],
        *[Call("POST", f"/api/share/{locked}/unlock", {"password": "no"}) for _ in range(2)],
        Call("GET", f"/s/{locked}"),
        Call("GET", "/healthz"),
    ]


def _auth_burst(user: ApiUser) -> Burst:
    h = user.headers
    return [
        *[Call("GET", "/api/auth/me", headers=h) for _ in range(4)],
        *[Call("GET", "/api/auth/tokens", headers=h) for _ in range(3)],
        *[Call("POST", "/api/auth/tokens", {"name": f"t{i}"}, h) for i in range(3)],
        *[Call("GET", "/api/auth/login") for _ in range(2)],
        Call("GET", "/api/auth/callback?code=x&state=y"),
        Call("DELETE", f"/api/auth/tokens/{uuid.uuid4()}", headers=h),
        Call("POST", "/api/auth/logout", headers=h),
        Call("GET", "/healthz"),
    ]


def _web_burst() -> Burst:
    return [
        *[Call("GET", "/") for _ in range(6)],
        *[Call("GET", f"/collections/{i}") for i in range(4)],
        *[Call("GET", "/_app/immutable/start.abc.js") for _ in range(3)],
        Call("GET", "/favicon.svg"),
        Call("GET", "/healthz"),
        Call("GET", "/metrics"),
    ]
