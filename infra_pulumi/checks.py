"""Fail `pulumi up` on a configuration MediaVault itself would refuse at start-up."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping

from infra_pulumi.accounts import (
    FUNCTIONS_SECRETS,
    INIT_SECRET_ENV,
    INIT_SECRETS,
    WORKER_SECRETS,
    secret_data,
)
from infra_pulumi.appconfig import app_settings
from infra_pulumi.processing import worker_settings
from infra_pulumi.settings import StackSettings
from mediavault.config import ProcessingSettings, ProvisionSettings, Settings
from mediavault.errors import ConfigError
from processing.kube import build_job

# Stands in for every secret value: it passes their checks (SESSION_SECRET wants 32+ characters).
# It exists only in this process, never in a resource.
_STAND_IN = "stand-in-" * 4

# What the CronJob controller parses (robfig/cron's standard parser): five fields or a descriptor.
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,-]+$")
_CRON_DESCRIPTOR = re.compile(
    r"^@(yearly|annually|monthly|weekly|daily|midnight|hourly"
    r"|every (\d+(\.\d+)?(ns|us|ms|s|m|h))+)$"
)


def _secret_stand_ins(s: StackSettings) -> dict[str, dict[str, str]]:
    """Each Secret's keys: plain values (user names, access keys) as they are, secrets stood in."""
    return {
        name: {key: value if isinstance(value, str) else _STAND_IN for key, value in data.items()}
        for name, data in secret_data(s).items()
    }


def _environment(
    s: StackSettings, secrets: Iterable[str], extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The ConfigMap, then whole Secrets (envFrom), then a container's own variables."""
    stand_ins = _secret_stand_ins(s)
    env = app_settings(s)
    for name in secrets:
        if name not in stand_ins:
            raise ConfigError("PROCESSING_JOB_SECRET", f"names no Secret of the stack: {name!r}")
        env.update(stand_ins[name])
    return {**env, **(extra or {})}


def role_environments(s: StackSettings) -> dict[str, dict[str, str]]:
    """The environment each kind of pod starts with (secrets stood in), by role."""
    stand_ins = _secret_stand_ins(s)
    init_env = {name: stand_ins[secret][key] for name, (secret, key) in INIT_SECRET_ENV.items()}
    return {
        "functions": _environment(s, FUNCTIONS_SECRETS),
        "worker": _environment(
            s, WORKER_SECRETS, {**worker_settings(s), "K8S_NAMESPACE": s.namespace}
        ),
        "reconcile": _environment(s, WORKER_SECRETS),
        "init": _environment(s, INIT_SECRETS, init_env),
    }


def job_environment(s: StackSettings, processing: ProcessingSettings) -> dict[str, str]:
    """What a transcode Job the worker builds starts with: the ConfigMap and the Secrets named."""
    return _environment(s, processing.job_env_secrets)


def check_settings(s: StackSettings) -> None:
    """Read every role's environment as MediaVault will, build one Job and read its env too."""
    try:
        envs = role_environments(s)
        Settings.from_env(envs["functions"])
        # Only the functions sign users in; everyone else starts without the sign-in secrets.
        Settings.from_env(envs["reconcile"], sign_in=False)
        worker = Settings.from_env(envs["worker"], sign_in=False).processing
        build_job(worker, str(uuid.UUID(int=0)))
        Settings.from_env(job_environment(s, worker), sign_in=False)
        Settings.from_env(envs["init"], sign_in=False)
        provision = ProvisionSettings.from_env(envs["init"])
    except ConfigError as error:
        raise ValueError(
            f"MediaVault would refuse this stack's settings: {error} (see Pulumi.yaml)"
        ) from None
    users = {provision.root.access_key, provision.functions.access_key, provision.worker.access_key}
    if len(users) < 3:
        raise ValueError(
            "minioRootUser, storageFunctionsAccessKey and storageWorkerAccessKey must name three"
            " different MinIO users (each role gets its own policy)"
        )
    check_hosts(s)
    check_schedule(s.reconcile_schedule)


def check_hosts(s: StackSettings) -> None:
    """The API and MinIO's S3 API need a host each: one Gateway routes both by host."""
    if s.s3_host == s.public_host:
        raise ValueError(
            f"s3PublicHost {s.s3_host!r} is publicHost: storage needs a host of its own, in"
            " production on its own registrable domain"
        )


def check_schedule(schedule: str) -> None:
    """Refuse a reconcileSchedule the API server would reject, before anything is applied."""
    fields = schedule.split()
    if _CRON_DESCRIPTOR.match(schedule.strip()):
        return
    if len(fields) == 5 and all(_CRON_FIELD.match(item) for item in fields):
        return
    raise ValueError(
        f"reconcileSchedule {schedule!r} is not a cron schedule (five fields, or @hourly and the"
        " like; no TZ= prefix)"
    )
