"""The namespace, and MediaVault's settings: a ConfigMap for plain values, a Secret for secrets."""

from __future__ import annotations

import functools
from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra_pulumi import kube
from infra_pulumi.settings import StackSettings
from mediavault.config import ProcessingSettings, Settings

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
        **shared_processing_settings(),
    }


def shared_processing_settings() -> dict[str, str]:
    """What the worker, its transcode Jobs and `mediavault reconcile` must agree on."""
    defaults = processing_defaults()
    return {
        "PROCESSING_MAX_ATTEMPTS": str(defaults.max_attempts),
        "PROCESSING_JOB_TIMEOUT_SECONDS": str(defaults.job_timeout_seconds),
        # A Job heartbeats at this pace; the worker takes over a claim silent for STALE_AFTER.
        "PROCESSING_HEARTBEAT_SECONDS": str(defaults.heartbeat_seconds),
        "PROCESSING_STALE_AFTER_SECONDS": str(defaults.stale_after_seconds),
    }


class AppConfig(pulumi.ComponentResource):
    """Namespace, ConfigMap and Secret."""

    namespace: k8s.core.v1.Namespace
    config_map: k8s.core.v1.ConfigMap
    secret: k8s.core.v1.Secret

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
        self.secret = k8s.core.v1.Secret(
            "secrets",
            metadata=kube.meta(kube.SECRET, ns, "config"),
            type="Opaque",
            # Credentials travel as pairs: both halves live in the Secret.
            string_data={
                "POSTGRES_USER": s.postgres_user,
                "MINIO_ROOT_USER": s.minio_root_user,
                "POSTGRES_PASSWORD": s.secrets.postgres_password,
                "MINIO_ROOT_PASSWORD": s.secrets.minio_root_password,
                "DISCORD_CLIENT_SECRET": s.secrets.discord_client_secret,
                "SESSION_SECRET": s.secrets.session_secret,
            },
            opts=child,
        )
        self.register_outputs(
            {"namespace": ns, "configMap": kube.CONFIG_MAP, "secret": kube.SECRET}
        )
