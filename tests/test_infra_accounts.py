"""Least privilege in the stack: each pod holds its own credentials and loads with them alone."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from infra_pulumi.knative import function_service_name
from mediavault.config import ProvisionSettings, Settings
from mediavault.errors import ConfigError
from mediavault.routes import FUNCTIONS
from processing.kube import build_job
from tests.infra_fixtures import (
    CONFIGS,
    DUMMY_SECRETS,
    by_kind,
    container_environment,
    containers,
    kube_objects,
    pod_specs,
)

ROOT_VARIABLES = {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}
SIGN_IN_VARIABLES = {"DISCORD_CLIENT_SECRET", "SESSION_SECRET"}
FUNCTIONS_ACCOUNT = DUMMY_SECRETS["mediavault-functions-secrets"]
WORKER_ACCOUNT = DUMMY_SECRETS["mediavault-worker-secrets"]


@pytest.fixture(params=sorted(CONFIGS))
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """The objects of one configuration, and a transcode Job as its worker would build it."""
    objects = kube_objects(**CONFIGS[request.param])
    return [*objects, build_job(_worker_settings(objects).processing, str(uuid.uuid4()))]


def _pod_owners(docs: list[dict[str, Any]], kind: str) -> Iterator[tuple[dict[str, Any], str]]:
    """(object, name) of every object of a kind that runs pods."""
    for doc in by_kind(docs, kind):
        if list(pod_specs(doc)):
            yield doc, doc["metadata"]["name"]


def _env(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, str]:
    """The environment of the one container of the named (or only) object of a kind."""
    (doc,) = [d for d, n in _pod_owners(docs, kind) if name in (None, n)]
    (container,) = containers(doc)
    return container_environment(doc, container, docs)


def _worker_settings(docs: list[dict[str, Any]]) -> Settings:
    return Settings.from_env(_env(docs, "Deployment", "mediavault-worker"), sign_in=False)


def _secrets_seen(spec: dict[str, Any]) -> set[str]:
    """Every Secret a pod reads, whole or by key, or mounts."""
    seen = {v["secret"]["secretName"] for v in spec.get("volumes", []) if "secret" in v}
    for container in spec["containers"] + spec.get("initContainers", []):
        seen |= {s["secretRef"]["name"] for s in container.get("envFrom", []) if "secretRef" in s}
        seen |= {
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        }
    return seen


def test_only_minio_and_the_init_job_see_minios_root_account(docs: list[dict[str, Any]]) -> None:
    seeing_root = set()
    pods = 0
    for doc in docs:
        for spec in pod_specs(doc):
            pods += 1
            env = {
                name
                for container in containers(doc)
                for name in container_environment(doc, container, docs)
            }
            if env & ROOT_VARIABLES or "mediavault-minio-root" in _secrets_seen(spec):
                seeing_root.add((doc["kind"], doc["metadata"]["name"]))
    assert seeing_root == {("StatefulSet", "mediavault-minio"), ("Job", "mediavault-init")}
    assert pods >= 10  # functions, worker, transcode Job, reconcile, init, stores, NSQ


def test_each_pod_sees_only_the_secrets_of_its_role(docs: list[dict[str, Any]]) -> None:
    shared, root = "mediavault-secrets", "mediavault-minio-root"
    functions, worker = "mediavault-functions-secrets", "mediavault-worker-secrets"
    expected = {
        ("StatefulSet", "mediavault-postgres"): {shared},
        ("StatefulSet", "mediavault-minio"): {root},
        ("StatefulSet", "mediavault-nsqd"): set(),
        ("Deployment", "mediavault-nsqlookupd"): set(),
        ("Job", "mediavault-init"): {shared, root, functions, worker},
        ("Deployment", "mediavault-worker"): {shared, worker},
        ("Job", "mediavault-transcode-*"): {shared, worker},
        ("CronJob", "mediavault-reconcile"): {shared, worker},
        **{("Service", function_service_name(f)): {shared, functions} for f in FUNCTIONS},
    }
    seen = {}
    for doc in docs:
        for spec in pod_specs(doc):
            name = doc["metadata"]["name"]
            if name.startswith("mediavault-transcode-"):
                name = "mediavault-transcode-*"
            seen[doc["kind"], name] = _secrets_seen(spec)
    assert seen == expected


def test_every_function_loads_with_its_own_account_and_the_sign_in_secrets(
    docs: list[dict[str, Any]],
) -> None:
    functions = [n for d, n in _pod_owners(docs, "Service") if "serving" in d["apiVersion"]]
    assert functions
    for name in functions:
        env = _env(docs, "Service", name)
        settings = Settings.from_env(env)
        assert settings.production
        assert settings.storage.access_key == FUNCTIONS_ACCOUNT["S3_ACCESS_KEY"]
        assert settings.storage.secret_key == FUNCTIONS_ACCOUNT["S3_SECRET_KEY"]
        assert settings.auth.session_secret == FUNCTIONS_ACCOUNT["SESSION_SECRET"]
        assert not env.keys() & ROOT_VARIABLES


@pytest.mark.parametrize("kind", ["Deployment", "CronJob", "Job (transcode)"])
def test_worker_jobs_and_reconcile_load_with_the_workers_account_and_no_sign_in(
    docs: list[dict[str, Any]], kind: str
) -> None:
    if kind == "Deployment":
        env = _env(docs, kind, "mediavault-worker")
    elif kind == "CronJob":
        env = _env(docs, kind)
    else:
        (doc,) = [d for d, n in _pod_owners(docs, "Job") if n.startswith("mediavault-transcode-")]
        (container,) = containers(doc)
        env = container_environment(doc, container, docs)
    settings = Settings.from_env(env, sign_in=False)
    assert settings.production
    assert settings.storage.access_key == WORKER_ACCOUNT["S3_ACCESS_KEY"]
    assert settings.storage.secret_key == WORKER_ACCOUNT["S3_SECRET_KEY"]
    assert not env.keys() & (ROOT_VARIABLES | SIGN_IN_VARIABLES)
    # Read as a function would read it, the missing sign-in secrets are what stops it.
    with pytest.raises(ConfigError, match=r"DISCORD_CLIENT_SECRET|SESSION_SECRET"):
        Settings.from_env(env)


def test_the_init_job_loads_the_root_and_both_role_accounts(docs: list[dict[str, Any]]) -> None:
    env = _env(docs, "Job", "mediavault-init")
    assert Settings.from_env(env, sign_in=False).production
    provision = ProvisionSettings.from_env(env)
    minio = _env(docs, "StatefulSet", "mediavault-minio")
    # The root account it provisions with is the one MinIO starts with.
    assert (provision.root.access_key, provision.root.secret_key) == (
        minio["MINIO_ROOT_USER"],
        minio["MINIO_ROOT_PASSWORD"],
    )
    # The accounts it creates are the ones the functions and the worker log in with.
    functions = Settings.from_env(_env(docs, "Service", "mediavault-media")).storage
    worker = _worker_settings(docs).storage
    assert provision.functions.access_key == functions.access_key
    assert provision.functions.secret_key == functions.secret_key
    assert provision.worker.access_key == worker.access_key
    assert provision.worker.secret_key == worker.secret_key
    assert len({provision.root.access_key, functions.access_key, worker.access_key}) == 3
    assert not env.keys() & SIGN_IN_VARIABLES


def test_access_keys_come_from_config_and_must_differ() -> None:
    docs = kube_objects(storageFunctionsAccessKey="fn-user", storageWorkerAccessKey="wk-user")
    secrets = {d["metadata"]["name"]: d["stringData"]["value"] for d in by_kind(docs, "Secret")}
    assert secrets["mediavault-functions-secrets"]["S3_ACCESS_KEY"] == "fn-user"
    assert secrets["mediavault-worker-secrets"]["S3_ACCESS_KEY"] == "wk-user"
    with pytest.raises(ValueError, match="three different MinIO users"):
        kube_objects(storageWorkerAccessKey="mediavault-functions")
    with pytest.raises(ValueError, match="three different MinIO users"):
        kube_objects(storageFunctionsAccessKey="mediavault")  # the root user
