"""Shared fixtures: one real stack (PostgreSQL, nsqlookupd, nsqd, MinIO) for the whole session."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from mediavault.config import Settings
from mediavault.devstack.services import ensure_database, infrastructure, init_postgres_cluster
from mediavault.provision import initialize
from mediavault.services import Services
from tests.harness import ProcessGroup, binaries, layout_for, make_shared_dir, stack_environment

if TYPE_CHECKING:
    from mediavault.devstack.layout import Binaries, StackLayout

# Variables MediaVault reads; none of the developer's own may leak into a test.
_OWNED_PREFIXES = (
    "MEDIAVAULT_", "POSTGRES_", "MINIO_", "S3_", "NSQ", "DISCORD_", "SESSION_",
    "API_BASE_URL", "FRONTEND_URL", "MAX_UPLOAD_BYTES", "MULTIPART_", "ALLOWED_CONTENT_TYPES",
    "USER_QUOTA_BYTES", "TRANSCODE_", "PRESIGN_", "LOG_LEVEL",
)  # fmt: skip


@pytest.fixture(autouse=True)
def isolated_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test starts with none of MediaVault's variables set."""
    for name in list(os.environ):
        if name.startswith(_OWNED_PREFIXES) and name != "MEDIAVAULT_TOOLS_DIR":
            monkeypatch.delenv(name)


@dataclass
class Stack:
    """The running test stack: its environment, settings and processes."""

    env: dict[str, str]
    settings: Settings
    layout: StackLayout
    binaries: Binaries
    processes: ProcessGroup


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """Start the infrastructure once, create the database and run `init` against it."""
    base = make_shared_dir("mediavault-test-")
    env = stack_environment(base)
    layout = layout_for(env)
    tools = binaries()
    init_postgres_cluster(layout, tools)
    processes = ProcessGroup(base, env)
    try:
        for spec in infrastructure(layout, tools):
            processes.start(spec)
        ensure_database(layout)
        initialize(layout.settings)
        yield Stack(env, layout.settings, layout, tools, processes)
    finally:
        processes.stop_all()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="session")
def services(stack: Stack) -> Iterator[Services]:
    """A pool and storage clients over the test stack."""
    made = Services.from_settings(stack.settings)
    made.pool.wait(timeout=30)
    try:
        yield made
    finally:
        made.close()


@pytest.fixture
def artifacts_dir() -> Path:
    """Where tests leave files worth looking at after a run (ignored by git)."""
    path = Path(__file__).resolve().parent.parent / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
