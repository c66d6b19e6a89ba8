"""Fail `pulumi up` on a configuration MediaVault itself would refuse at start-up."""

from __future__ import annotations

import re
import uuid

from infra_pulumi.appconfig import app_settings
from infra_pulumi.processing import worker_settings
from infra_pulumi.settings import StackSettings
from mediavault.config import Settings
from mediavault.errors import ConfigError
from processing.kube import build_job

# The Secret's keys with values that pass its checks: the plain settings are what is checked
# here. They exist only in this process, never in a resource.
_SECRET_STAND_INS = {
    "POSTGRES_USER": "stand-in",
    "MINIO_ROOT_USER": "stand-in",
    "POSTGRES_PASSWORD": "stand-in",
    "MINIO_ROOT_PASSWORD": "stand-in",
    "DISCORD_CLIENT_SECRET": "stand-in",
    "SESSION_SECRET": "stand-in-" * 4,
}


# What the CronJob controller parses (robfig/cron's standard parser): five fields or a descriptor.
_CRON_FIELD = re.compile(r"^[0-9A-Za-z*?/,-]+$")
_CRON_DESCRIPTOR = re.compile(
    r"^@(yearly|annually|monthly|weekly|daily|midnight|hourly"
    r"|every (\d+(\.\d+)?(ns|us|ms|s|m|h))+)$"
)


def check_settings(s: StackSettings) -> None:
    """Read the worker's and the reconcile pass's environments as they will; build one Job."""
    reconcile_env = {**app_settings(s), **_SECRET_STAND_INS}
    worker_env = {**reconcile_env, **worker_settings(s), "K8S_NAMESPACE": s.namespace}
    try:
        Settings.from_env(reconcile_env)
        settings = Settings.from_env(worker_env)
        build_job(settings.processing, str(uuid.UUID(int=0)))
    except ConfigError as error:
        raise ValueError(
            f"MediaVault would refuse this stack's settings: {error} (see Pulumi.yaml)"
        ) from None
    check_schedule(s.reconcile_schedule)


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
