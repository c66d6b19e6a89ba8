"""Fail `pulumi up` on a configuration MediaVault itself would refuse at start-up."""

from __future__ import annotations

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


def check_settings(s: StackSettings) -> None:
    """Read the worker's environment as the worker will and build one Job from it."""
    env = {
        **app_settings(s),
        **_SECRET_STAND_INS,
        **worker_settings(s),
        "K8S_NAMESPACE": s.namespace,
    }
    try:
        settings = Settings.from_env(env)
        build_job(settings.processing, str(uuid.UUID(int=0)))
    except ConfigError as error:
        raise ValueError(
            f"MediaVault would refuse this stack's settings: {error} (see Pulumi.yaml)"
        ) from None
