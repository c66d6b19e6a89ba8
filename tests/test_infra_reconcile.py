"""The reconcile CronJob: scheduled from config, valid, non-root, production-ready env, admitted."""

from __future__ import annotations

import re
from typing import Any

import kubernetes_validate
import pytest
import yaml

from infra_pulumi.checks import check_schedule
from infra_pulumi.render import Created
from infra_pulumi.settings import StackSettings
from mediavault.cli import _parser
from mediavault.config import Settings
from mediavault.errors import ConfigError
from tests.infra_fixtures import (
    CONFIGS,
    ROOT,
    SECRET_VARIABLES,
    by_kind,
    container_environment,
    containers,
    kube_objects,
    named,
    program,
)

KUBERNETES_VERSION = "1.33.0"
RECONCILE = "mediavault-reconcile"
WORKER = "mediavault-worker"
# The stores the pass talks to: rows in PostgreSQL, objects in MinIO, events to nsqd.
REACHES = {"postgres", "minio", "nsqd"}


@pytest.fixture(params=sorted(CONFIGS))
def docs(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    """The objects of one configuration."""
    return kube_objects(**CONFIGS[request.param])


def _reconcile(docs: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, Any]]:
    cron = named(docs, "CronJob", RECONCILE)
    (container,) = containers(cron)
    return cron, container


def _pod(cron: dict[str, Any]) -> dict[str, Any]:
    pod: dict[str, Any] = cron["spec"]["jobTemplate"]["spec"]["template"]
    return pod


def _created(created: list[Created], typ: str, name: str) -> Created:
    (item,) = [c for c in created if c.type == typ and c.name == name]
    return item


def test_the_schedule_comes_from_config_with_the_declared_default() -> None:
    declared = yaml.safe_load((ROOT / "Pulumi.yaml").read_text())["config"]["reconcileSchedule"]
    assert declared["type"] == "string"
    assert declared["default"] == StackSettings(secrets=None).reconcile_schedule  # type: ignore[arg-type]
    cron, _ = _reconcile(kube_objects())
    assert cron["spec"]["schedule"] == declared["default"] == "*/10 * * * *"
    cron, _ = _reconcile(kube_objects(reconcileSchedule="*/3 * * * *"))
    assert cron["spec"]["schedule"] == "*/3 * * * *"


def test_the_cron_job_validates_and_bounds_every_run(docs: list[dict[str, Any]]) -> None:
    cron, container = _reconcile(docs)
    kubernetes_validate.validate(cron, KUBERNETES_VERSION, strict=True)
    spec = cron["spec"]
    assert spec["concurrencyPolicy"] == "Forbid"
    assert spec["startingDeadlineSeconds"] > 0
    assert spec["successfulJobsHistoryLimit"] >= 1
    assert spec["failedJobsHistoryLimit"] >= 1
    job = spec["jobTemplate"]["spec"]
    # With Forbid a hung pass holds back the next ones: it must be killed within one interval.
    assert 0 < job["activeDeadlineSeconds"] < 10 * 60
    assert job["ttlSecondsAfterFinished"] > 0
    assert _pod(cron)["spec"]["restartPolicy"] in {"Never", "OnFailure"}
    assert container["command"] == ["mediavault", "reconcile"]
    assert _parser().parse_args(container["command"][1:]).command == "reconcile"


def test_strict_validation_rejects_a_misspelt_cron_job_field(docs: list[dict[str, Any]]) -> None:
    cron, _ = _reconcile(docs)
    broken = {**cron, "spec": {**cron["spec"], "concurrencyPolicys": "Forbid"}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


def test_it_runs_the_workers_image_which_installs_the_cli(docs: list[dict[str, Any]]) -> None:
    _, container = _reconcile(docs)
    (worker,) = containers(named(docs, "Deployment", WORKER))
    assert (
        container["image"] == worker["image"] == "ghcr.io/mediavault/mediavault-processing:latest"
    )
    dockerfile = (ROOT / "docker" / "Dockerfile.processing").read_text()
    assert "COPY mediavault ./mediavault" in dockerfile
    assert re.search(r"pip install [^\n]*--no-deps [^\n]* \.\s", dockerfile), (
        "installs the console script"
    )
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert 'mediavault = "mediavault.cli:main"' in pyproject


def test_it_runs_as_non_root_with_requests_and_limits(docs: list[dict[str, Any]]) -> None:
    cron, container = _reconcile(docs)
    pod = _pod(cron)["spec"]
    dockerfile = (ROOT / "docker" / "Dockerfile.processing").read_text()
    uid = int(re.findall(r"^USER (\d+)", dockerfile, re.MULTILINE)[-1])
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["runAsUser"] == uid
    security = container["securityContext"]
    assert security["runAsNonRoot"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"]["drop"] == ["ALL"]
    assert security["readOnlyRootFilesystem"] is True
    assert {m["mountPath"] for m in container["volumeMounts"]} == {"/tmp"}
    resources = container["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}
    # It never calls the API server: no token in the pod.
    assert pod["automountServiceAccountToken"] is False


def test_its_env_is_the_workers_and_production_accepts_it(docs: list[dict[str, Any]]) -> None:
    cron, container = _reconcile(docs)
    deployment = named(docs, "Deployment", WORKER)
    (worker,) = containers(deployment)
    assert container["envFrom"] == worker["envFrom"]
    env = container_environment(cron, container, docs)
    assert env["MEDIAVAULT_ENV"] == "production"
    settings = Settings.from_env(env, sign_in=False)
    assert settings.production
    worker_env = container_environment(deployment, worker, docs)
    worker_settings = Settings.from_env(worker_env, sign_in=False)
    # Same stores and topic, and the same idea of a stale claim, as the worker and its Jobs.
    assert settings.database == worker_settings.database
    assert settings.storage == worker_settings.storage
    assert settings.queue == worker_settings.queue
    assert settings.processing.stale_after_seconds == worker_settings.processing.stale_after_seconds
    assert settings.uploads == worker_settings.uploads
    # The Secrets are what make it valid: without them production refuses to start.
    without_secret = {k: v for k, v in env.items() if k not in SECRET_VARIABLES}
    with pytest.raises(ConfigError):
        Settings.from_env(without_secret)


def test_the_network_policies_admit_it(docs: list[dict[str, Any]]) -> None:
    cron, _ = _reconcile(docs)
    labels = _pod(cron)["metadata"]["labels"]
    assert labels == cron["spec"]["jobTemplate"]["metadata"]["labels"]
    policies = {
        d["spec"]["podSelector"]["matchLabels"]["app.kubernetes.io/component"]: d
        for d in by_kind(docs, "NetworkPolicy")
    }
    assert set(policies) >= REACHES

    def admitted(component: str, pod_labels: dict[str, str]) -> bool:
        peers = policies[component]["spec"]["ingress"][0]["from"]
        return any(
            "namespaceSelector" not in peer
            and peer["podSelector"]["matchLabels"].items() <= pod_labels.items()
            for peer in peers
        )

    for component in REACHES:
        assert admitted(component, labels), component
        stranger = {k: v for k, v in labels.items() if k != "app.kubernetes.io/part-of"}
        assert not admitted(component, stranger), component


def _waits_for(item: Created) -> set[tuple[str, str]]:
    """(type, name) of each resource it depends on (a URN ends in `parent$type::name`)."""
    pairs = (urn.split("::")[-2:] for urn in item.dependencies)
    return {(qualified.split("$")[-1], name) for qualified, name in pairs}


def test_it_waits_for_the_init_job_like_the_functions() -> None:
    created = program()
    init_job = ("kubernetes:batch/v1:Job", "init")
    cron = _created(created, "kubernetes:batch/v1:CronJob", "reconcile")
    assert init_job in _waits_for(cron)
    functions = [c for c in created if c.type.endswith("serving.knative.dev/v1:Service")]
    assert functions
    assert all(init_job in _waits_for(function) for function in functions)
    assert init_job in _waits_for(_created(created, "kubernetes:apps/v1:Deployment", "worker"))
    # What the recorder sees is depends_on, not creation order: the init Job waits for its stores.
    assert ("kubernetes:apps/v1:StatefulSet", "postgres") in _waits_for(
        _created(created, *init_job)
    )


@pytest.mark.parametrize(
    "schedule", ["*/10 * * * *", "0 3 * * 1-5", "@hourly", "@every 1h30m", "*/5 * * JAN,FEB ?"]
)
def test_cron_schedules_pass(schedule: str) -> None:
    check_schedule(schedule)


@pytest.mark.parametrize(
    "schedule", ["every ten minutes", "*/10 * * *", "TZ=UTC */10 * * * *", "@fortnightly", ""]
)
def test_a_bad_schedule_stops_the_program(schedule: str) -> None:
    with pytest.raises(ValueError, match=r"reconcileSchedule"):
        check_schedule(schedule)


def test_the_program_checks_the_schedule() -> None:
    with pytest.raises(ValueError, match=r"reconcileSchedule 'every ten minutes'"):
        kube_objects(reconcileSchedule="every ten minutes")
