"""A frozen dependency (SIGSTOP: connections open, nothing answers) is a bounded 503, not a hang.

A stopped process is the hard case: the kernel still accepts connections and acknowledges what
is sent, so only the client's own timeouts end the wait. These tests freeze the PostgreSQL and
the MinIO of a throwaway stack of their own, never the session's.
"""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import httpx
import pytest

from mediavault.devstack.services import function_specs
from mediavault.services import Services
from mediavault.users import create_api_token, get_or_create_local_user
from tests.harness import ProcessGroup, Stack, layout_for, make_shared_dir, poll, running_stack

# A bound, not a benchmark: the answer is due within about 2 s; before, these waited minutes.
BOUND_SECONDS = 5.0
# How long a request may take before the test calls it hung (well past any bound).
HUNG_SECONDS = 30.0
MIB = 1024 * 1024
SINGLE = {"filename": "a.jpg", "content_type": "image/jpeg", "size_bytes": 1000}
MULTIPART = {"filename": "big.mp4", "content_type": "video/mp4", "size_bytes": 6 * MIB}


@dataclass
class Frozen:
    """The throwaway stack, its presign and media functions as processes, and a user."""

    stack: Stack
    presign: str
    media: str
    headers: dict[str, str]


@pytest.fixture(scope="module")
def frozen_stack() -> Iterator[Frozen]:
    with running_stack("mediavault-hung-") as stack:
        env = {**stack.env, "MULTIPART_THRESHOLD_BYTES": str(5 * MIB)}
        layout = layout_for(env)
        log_dir = make_shared_dir("mediavault-hung-fn-")
        processes = ProcessGroup(log_dir, env)
        try:
            for spec in function_specs(layout, stack.binaries):
                if spec.name in ("fn-presign", "fn-media"):
                    processes.start(spec)
            yield Frozen(
                stack,
                layout.function_url("presign"),
                layout.function_url("media"),
                _bearer(stack),
            )
        finally:
            processes.stop_all()
            shutil.rmtree(log_dir, ignore_errors=True)


def _bearer(stack: Stack) -> dict[str, str]:
    services = Services.from_settings(stack.settings)
    try:
        with services.pool.connection(timeout=30) as conn:
            user = get_or_create_local_user(conn, f"frozen-{uuid.uuid4().hex[:8]}")
            token = create_api_token(conn, user.id, "tests")
    finally:
        services.close()
    return {"Authorization": f"Bearer {token.token}"}


@contextmanager
def frozen(stack: Stack, name: str) -> Iterator[None]:
    """SIGSTOP the service and the processes it forked (PostgreSQL's backends); SIGCONT after."""
    pid = stack.processes.running[name].process.pid
    # Each PostgreSQL backend is a session of its own: its process group would miss them.
    stopped = [pid, *_children(pid)]
    for each in stopped:
        os.kill(each, signal.SIGSTOP)
    try:
        yield
    finally:
        for each in stopped:
            os.kill(each, signal.SIGCONT)


def _children(parent: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # The command may hold spaces and parentheses: the fields follow the last ')'.
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue  # gone meanwhile
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def timed(call: Callable[[], httpx.Response]) -> tuple[httpx.Response | None, float]:
    """The response (None if it never came) and how long it took."""
    started = time.monotonic()
    try:
        response: httpx.Response | None = call()
    except httpx.TimeoutException:
        response = None
    return response, time.monotonic() - started


def assert_quick_503(answer: tuple[httpx.Response | None, float], what: str) -> dict[str, object]:
    """A 503 JSON error with Retry-After, within the bound."""
    response, seconds = answer
    assert response is not None, f"{what}: no answer in {HUNG_SECONDS:.0f} s"
    assert seconds < BOUND_SECONDS, f"{what}: answered after {seconds:.1f} s"
    assert response.status_code == 503, f"{what}: {response.status_code} {response.text[:300]}"
    assert response.headers["Retry-After"].isdigit(), what
    body: dict[str, object] = response.json()
    assert isinstance(body["error"], dict)
    assert body["error"]["code"] == "service_unavailable", what
    return body


def _client(headers: dict[str, str] | None = None) -> httpx.Client:
    return httpx.Client(headers=headers, timeout=HUNG_SECONDS)


def _started(f: Frozen, body: dict[str, object]) -> str:
    with _client(f.headers) as client:
        response = client.post(f"{f.presign}/api/uploads", json=body)
    assert response.status_code == 201, response.text
    media_id: str = response.json()["media_id"]
    return media_id


def test_a_frozen_postgresql_is_a_quick_503_and_service_resumes(frozen_stack: Frozen) -> None:
    f = frozen_stack
    single, multipart = _started(f, SINGLE), _started(f, MULTIPART)
    with _client(f.headers) as client:
        # Several pooled connections, each idle and about to be checked on checkout.
        with ThreadPoolExecutor(12) as pool:
            assert all(
                r.status_code == 200
                for r in pool.map(lambda _: client.get(f"{f.media}/api/media"), range(12))
            )
        with frozen(f.stack, "postgres"), ThreadPoolExecutor(12) as pool:
            lists = list(pool.map(lambda _: timed(lambda: client.get(f"{f.media}/api/media")),
                                  range(12)))  # fmt: skip
            for answer in lists:
                assert_quick_503(answer, "GET /api/media")
            for what, call in _upload_calls(f, client, single, multipart).items():
                assert_quick_503(timed(call), what)
            for url in (f.media, f.presign):
                body = assert_quick_503(timed(lambda u=url: client.get(f"{u}/healthz")), "healthz")  # type: ignore[misc]
                assert isinstance(body["checks"], dict)
                assert str(body["checks"]["postgres"]).startswith("down")
        _everything_works_again(f, client, single, multipart)


def test_a_frozen_minio_is_a_quick_503_and_service_resumes(frozen_stack: Frozen) -> None:
    f = frozen_stack
    single, multipart = _started(f, SINGLE), _started(f, MULTIPART)
    with _client(f.headers) as client:
        with frozen(f.stack, "minio"):
            for what, call in _upload_calls(f, client, single, multipart).items():
                body = assert_quick_503(timed(call), what)
                assert body["error"] == {
                    "code": "service_unavailable", "message": "storage is unavailable; retry"
                }  # fmt: skip
            body = assert_quick_503(timed(lambda: client.get(f"{f.presign}/healthz")), "healthz")
            assert isinstance(body["checks"], dict)
            assert body["checks"]["postgres"] == "ok"
            assert str(body["checks"]["minio"]).startswith("down")
        _everything_works_again(f, client, single, multipart)


def _upload_calls(
    f: Frozen, client: httpx.Client, single: str, multipart: str
) -> dict[str, Callable[[], httpx.Response]]:
    """The presign routes that need storage: a multipart start, fresh URLs, an abort."""
    uploads = f"{f.presign}/api/uploads"
    return {
        "POST /api/uploads": lambda: client.post(uploads, json=MULTIPART),
        "POST /urls": lambda: client.post(f"{uploads}/{single}/urls"),
        "DELETE /api/uploads": lambda: client.delete(f"{uploads}/{multipart}"),
    }


def _everything_works_again(f: Frozen, client: httpx.Client, single: str, multipart: str) -> None:
    """Once the dependency runs again, each route answers as it should (no sticky failure)."""
    for url in (f.media, f.presign):
        poll(lambda u=url: client.get(f"{u}/healthz").status_code == 200, f"{url} healthy", 30)  # type: ignore[misc]
    poll(lambda: client.get(f"{f.media}/api/media").status_code == 200, "the media list", 30)
    assert client.post(f"{f.presign}/api/uploads", json=MULTIPART).status_code == 201
    assert client.post(f"{f.presign}/api/uploads/{single}/urls").status_code == 200
    assert client.delete(f"{f.presign}/api/uploads/{multipart}").status_code == 204


class _Unavailable(BaseHTTPRequestHandler):
    """Answers every request 503, counting them."""

    seen: ClassVar[list[str]]

    def do_GET(self) -> None:
        self.seen.append(self.path)
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        """Quiet."""


@pytest.mark.parametrize(("deadline", "attempts"), [(0.0, 1), (30.0, 4)])
def test_storage_retries_only_within_the_call_deadline(deadline: float, attempts: int) -> None:
    from urllib3.exceptions import MaxRetryError

    from mediavault.s3http import RETRIES, DeadlinePoolManager

    class Counted(_Unavailable):
        seen: ClassVar[list[str]] = []

    handler = Counted
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:
        client = DeadlinePoolManager(deadline, timeout=5.0)
        with pytest.raises(MaxRetryError):
            client.urlopen("GET", f"http://127.0.0.1:{server.server_port}/bucket/key")
    finally:
        server.shutdown()
        server.server_close()
    # Past the deadline no retry starts; within it, urllib3's own count applies.
    assert len(handler.seen) == attempts
    assert attempts in (1, 1 + RETRIES)
