"""Shared fixtures: one real stack (PostgreSQL, nsqlookupd, nsqd, MinIO) for the whole session."""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from mediavault.services import Services
from mediavault.storage import Storage
from tests.harness import Stack, running_stack

__all__ = ["Stack"]

pytest_plugins = [
    "tests.auth_fixtures",
    "tests.api_fixtures",
    "tests.worker_fixtures",
    "tests.web_fixtures",
    "tests.kube_fixtures",
    "tests.k8s_fixtures",
    "tests.client_fixtures",
    "tests.image_fixtures",
]

# Variables MediaVault reads; none of the developer's own may leak into a test.
_OWNED_PREFIXES = (
    "MEDIAVAULT_", "POSTGRES_", "MINIO_", "S3_", "NSQ", "DISCORD_", "SESSION_",
    "API_BASE_URL", "FRONTEND_URL", "MAX_UPLOAD_BYTES", "MULTIPART_", "ALLOWED_CONTENT_TYPES",
    "USER_QUOTA_BYTES", "TRANSCODE_", "PRESIGN_", "LOG_LEVEL", "PROCESSING_", "WORKER_",
    "MAX_JSON_BYTES", "SIGNIN_", "API_TOKEN",
)  # fmt: skip


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with none of MediaVault's variables set."""
    for name in list(os.environ):
        if name.startswith(_OWNED_PREFIXES) and name != "MEDIAVAULT_TOOLS_DIR":
            monkeypatch.delenv(name)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Start the infrastructure once for the session, with `init` applied."""
    with running_stack("mediavault-test-") as running:
        yield running


@pytest.fixture(scope="session")
def services(stack: Stack) -> Iterator[Services]:
    """A pool and storage clients over the test stack."""
    # The tests' own set-up writes in bulk: a batch's bounds, not a request's.
    made = Services.from_settings(stack.settings.for_worker())
    made.pool.wait(timeout=30)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture(scope="session")
def admin_storage(stack: Stack) -> Storage:
    """Storage with MinIO's root account: for tests to plant and inspect objects, as an operator."""
    root = stack.layout.provision.root
    storage = stack.settings.for_worker().storage
    return Storage(replace(storage, access_key=root.access_key, secret_key=root.secret_key))


def put_object(
    storage: Storage, key: str, data: bytes, content_type: str = "application/octet-stream"
) -> None:
    """Store bytes under a key directly (not through an upload)."""
    storage.client.put_object(storage.bucket, key, io.BytesIO(data), len(data), content_type)


Plant = Callable[..., None]


@pytest.fixture
def plant(admin_storage: Storage) -> Plant:
    """Store bytes under any key, as an operator would (tests' set-up, not an upload)."""

    def store(key: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        put_object(admin_storage, key, data, content_type)

    return store


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests leave files worth looking at after a run (ignored by git)."""
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
