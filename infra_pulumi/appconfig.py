"""The namespace, and MediaVault's settings: a ConfigMap for plain values, a Secret for secrets."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra_pulumi import kube
from infra_pulumi.accounts import secret_data
from infra_pulumi.settings import StackSettings
from mediavault.config import MIB, ProcessingSettings, Settings
from mediavault.errors import ConfigError
from processing.kube import SCRATCH_MOUNT, quantity

MINIO_PORT = 9000
NSQD_TCP_PORT = 4150
NSQD_HTTP_PORT = 4151
LOOKUPD_TCP_PORT = 4160
LOOKUPD_HTTP_PORT = 4161
POSTGRES_SERVICE = "mediavault-postgres"
MINIO_SERVICE = "mediavault-minio"
NSQD_SERVICE = "mediavault-nsqd"
LOOKUPD_SERVICE = "mediavault-nsqlookupd"
NSQ_TOPIC = "mediavault-uploads"
# Inside a transcode Job's memory limit, beside ffmpeg's address space: the job's own Python
# process and ffprobe. ffmpeg hitting its cap then fails the media with a reason, where the
# container's cgroup limit would OOM-kill the whole Job (retried, then retried by reconcile).
JOB_MEMORY_HEADROOM = 512 * MIB


@dataclass(frozen=True)
class AppConfigArgs:
    """Inputs of AppConfig."""

    settings: StackSettings


@functools.cache
def processing_defaults() -> ProcessingSettings:
    """The application's own defaults, so that the stack states them without copying them."""
    return Settings.from_env({}).processing


def app_settings(settings: StackSettings) -> dict[str, str]:
    """The non-secret environment of every MediaVault process (see .env.example)."""
    database_host = settings.external_database_host or POSTGRES_SERVICE
    return {
        "MEDIAVAULT_ENV": "production",
        "LOG_LEVEL": settings.log_level,
        "API_BASE_URL": settings.api_url,
        "FRONTEND_URL": settings.frontend_url or settings.api_url,
        "POSTGRES_HOST": database_host,
        "POSTGRES_PORT": str(settings.postgres_port),
        "POSTGRES_DB": settings.postgres_db,
        "S3_ENDPOINT": f"{MINIO_SERVICE}:{MINIO_PORT}",
        "S3_USE_SSL": "false",
        "S3_PUBLIC_URL": settings.s3_url,
        "S3_BUCKET": settings.bucket,
        "MINIO_NOTIFY_ARN": "arn:minio:sqs::_:nsq",
        "NSQD_TCP_ADDRESS": f"{NSQD_SERVICE}:{NSQD_TCP_PORT}",
        "NSQD_HTTP_ADDRESS": f"{NSQD_SERVICE}:{NSQD_HTTP_PORT}",
        "NSQLOOKUPD_HTTP_ADDRESSES": f"{LOOKUPD_SERVICE}:{LOOKUPD_HTTP_PORT}",
        "NSQ_TOPIC": NSQ_TOPIC,
        "DISCORD_CLIENT_ID": settings.discord_client_id,
        "DISCORD_GUILD_IDS": ",".join(settings.discord_guild_ids),
        "TRANSCODE_ENCODER": settings.transcode_encoder,
        **shared_processing_settings(settings),
    }


def shared_processing_settings(settings: StackSettings) -> dict[str, str]:
    """What the worker, its transcode Jobs and `mediavault reconcile` must agree on."""
    # A Job reads only the ConfigMap and its Secrets: every limit a Job enforces lives here.
    defaults = processing_defaults()
    return {
        "PROCESSING_MAX_ATTEMPTS": str(defaults.max_attempts),
        # The cap; each job's own timeout grows with its media up to it.
        "PROCESSING_JOB_TIMEOUT_SECONDS": str(defaults.job_timeout_seconds),
        # A Job heartbeats at this pace; the worker takes over a claim silent for STALE_AFTER.
        "PROCESSING_HEARTBEAT_SECONDS": str(defaults.heartbeat_seconds),
        "PROCESSING_STALE_AFTER_SECONDS": str(defaults.stale_after_seconds),
        "PROCESSING_MAX_PIXELS": str(defaults.max_pixels),
        "PROCESSING_MAX_DURATION_SECONDS": str(defaults.max_duration_seconds),
        "PROCESSING_MAX_FRAMES": str(defaults.max_frames),
        "PROCESSING_SECONDS_PER_HD_SECOND": str(defaults.seconds_per_hd_second),
        "PROCESSING_MAX_MEMORY_BYTES": str(ffmpeg_memory_bytes(settings)),
        # The Job's scratch emptyDir (and the worker's /tmp), both with a sizeLimit.
        "PROCESSING_SCRATCH_DIR": SCRATCH_MOUNT,
    }


def ffmpeg_memory_bytes(settings: StackSettings) -> int:
    """ffmpeg's address-space cap in a Job: its memory limit less the job process's headroom."""
    variable = "PROCESSING_JOB_MEMORY_LIMIT"
    cap = int(quantity(variable, settings.jobs.memory_limit)) - JOB_MEMORY_HEADROOM
    if cap < JOB_MEMORY_HEADROOM:
        raise ConfigError(
            variable,
            f"{settings.jobs.memory_limit} leaves ffmpeg too little memory: allow at least"
            f" {2 * JOB_MEMORY_HEADROOM // MIB}Mi (jobMemoryLimit)",
        )
    return cap


class AppConfig(pulumi.ComponentResource):
    """Namespace, ConfigMap and one Secret per role (accounts.py)."""

    namespace: k8s.core.v1.Namespace
    config_map: k8s.core.v1.ConfigMap
    secrets: dict[str, k8s.core.v1.Secret]

    def __init__(
        self, name: str, args: AppConfigArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediavault:infra:AppConfig", name, None, opts)
        s = args.settings
        ns = s.namespace
        self.namespace = k8s.core.v1.Namespace(
            "namespace",
            metadata=k8s.meta.v1.ObjectMetaArgs(name=ns, labels={**kube.labels("namespace", ns)}),
            opts=pulumi.ResourceOptions(parent=self),
        )
        child = pulumi.ResourceOptions(parent=self, depends_on=[self.namespace])
        self.config_map = k8s.core.v1.ConfigMap(
            "config",
            metadata=kube.meta(kube.CONFIG_MAP, ns, "config"),
            data=app_settings(s),
            opts=child,
        )
        self.secrets = {
            name: k8s.core.v1.Secret(
                # The shared Secret keeps its resource name: existing stacks update it in place.
                "secrets" if name == kube.SECRET else name.removeprefix("mediavault-"),
                metadata=kube.meta(name, ns, "config"),
                type="Opaque",
                string_data=data,
                opts=child,
            )
            for name, data in secret_data(s).items()
        }
        self.register_outputs(
            {"namespace": ns, "configMap": kube.CONFIG_MAP, "secrets": sorted(self.secrets)}
        )
