"""Typed stack settings read once from Pulumi config (keys and defaults declared in Pulumi.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi

from mediavault.config import DEFAULT_PROCESSING_IMAGE

PROJECT = "mediavault"
# The secret config keys (Pulumi.yaml): no defaults, set with `pulumi config set --secret`.
SECRET_KEYS = (
    "postgresPassword",
    "minioRootPassword",
    "storageFunctionsSecretKey",
    "storageWorkerSecretKey",
    "discordClientSecret",
    "sessionSecret",
)


@dataclass(frozen=True)
class Images:
    """Container images of the stack."""

    functions: str = "ghcr.io/mediavault/mediavault-functions:latest"
    processing: str = DEFAULT_PROCESSING_IMAGE
    minio: str = "ghcr.io/mediavault/mediavault-minio:latest"
    postgres: str = "postgres:17.6-bookworm"
    nsq: str = "nsqio/nsq:v1.3.0"
    pull_policy: str = "IfNotPresent"


@dataclass(frozen=True)
class FunctionScaling:
    """How each function's Knative Service scales and what one pod may use."""

    min_scale: int = 0
    max_scale: int = 10
    container_concurrency: int = 50
    timeout_seconds: int = 300
    cpu_request: str = "100m"
    memory_request: str = "256Mi"
    cpu_limit: str = "1"
    memory_limit: str = "512Mi"


@dataclass(frozen=True)
class GpuSettings:
    """Where GPU transcode Jobs go and what they ask for (used only when enabled)."""

    enabled: bool = False
    count: int = 1
    node_selector: dict[str, str] = field(
        default_factory=lambda: {"nvidia.com/gpu.present": "true"}
    )
    tolerations: tuple[str, ...] = ("nvidia.com/gpu:NoSchedule",)
    runtime_class: str = ""  # e.g. "nvidia" where the NVIDIA runtime is not the node default


@dataclass(frozen=True)
class JobResources:
    """Requests and limits of each transcode Job's container (the worker builds the Job)."""

    cpu_request: str = "1"
    cpu_limit: str = "4"
    memory_request: str = "1Gi"
    memory_limit: str = "4Gi"


@dataclass(frozen=True)
class StorageSizes:
    """PersistentVolumeClaim sizes and class."""

    postgres: str = "10Gi"
    minio: str = "100Gi"
    nsqd: str = "5Gi"
    storage_class: str = ""


@dataclass(frozen=True)
class Secrets:
    """Values that go only into the Kubernetes Secrets, each into the one of the role using it."""

    postgres_password: pulumi.Input[str]
    minio_root_password: pulumi.Input[str]
    discord_client_secret: pulumi.Input[str]
    session_secret: pulumi.Input[str]
    storage_functions_secret_key: pulumi.Input[str]
    storage_worker_secret_key: pulumi.Input[str]


@dataclass(frozen=True)
class StackSettings:
    """Everything the program needs, with the defaults of Pulumi.yaml."""

    secrets: Secrets
    namespace: str = "mediavault"
    public_host: str = "mediavault.example.com"
    s3_public_host: str = ""
    public_scheme: str = "https"
    public_port: int = 0
    tls_cluster_issuer: str = ""
    ingress_namespace: str = "istio-system"
    images: Images = field(default_factory=Images)
    install_knative: bool = True
    knative_version: str = "knative-v1.20.0"
    net_istio_version: str = "knative-v1.20.0"
    functions: FunctionScaling = field(default_factory=FunctionScaling)
    gpu: GpuSettings = field(default_factory=GpuSettings)
    jobs: JobResources = field(default_factory=JobResources)
    storage: StorageSizes = field(default_factory=StorageSizes)
    external_database_host: str = ""
    postgres_port: int = 5432
    postgres_user: str = "mediavault"
    postgres_db: str = "mediavault"
    minio_root_user: str = "mediavault"
    # The scoped MinIO users `mediavault init` creates for the functions and for the worker.
    storage_functions_access_key: str = "mediavault-functions"
    storage_worker_access_key: str = "mediavault-worker"
    bucket: str = "mediavault"
    discord_client_id: str = ""
    discord_guild_ids: tuple[str, ...] = ()
    frontend_url: str = ""
    log_level: str = "INFO"
    transcode_encoder: str = "auto"
    worker_replicas: int = 1
    worker_concurrency: int = 2
    worker_port: int = 8081
    reconcile_schedule: str = "*/10 * * * *"
    service_monitor: bool = False

    @property
    def s3_host(self) -> str:
        """The public host of MinIO's S3 API: in production on a registrable domain of its own."""
        return self.s3_public_host or f"s3.{self.public_host}"

    def public_url(self, host: str) -> str:
        """scheme://host[:port] as browsers reach it."""
        default_port = 443 if self.public_scheme == "https" else 80
        port = "" if self.public_port in (0, default_port) else f":{self.public_port}"
        return f"{self.public_scheme}://{host}{port}"

    @property
    def api_url(self) -> str:
        """The public URL of the API."""
        return self.public_url(self.public_host)

    @property
    def s3_url(self) -> str:
        """The public URL presigned uploads and downloads point at."""
        return self.public_url(self.s3_host)

    @property
    def in_cluster_database(self) -> bool:
        """True unless an external PostgreSQL is configured."""
        return not self.external_database_host


def _parse_selector(raw: str) -> dict[str, str]:
    """'k=v,k2=v2' into a node selector."""
    pairs = (item.partition("=") for item in raw.split(",") if item.strip())
    return {key.strip(): value.strip() for key, _, value in pairs}


def load_settings(config: pulumi.Config | None = None) -> StackSettings:
    """Read the stack's config; secrets stay Outputs marked secret."""
    cfg = config or pulumi.Config(PROJECT)
    defaults = StackSettings(secrets=Secrets("", "", "", "", "", ""))
    image = Images()
    scaling = FunctionScaling()
    gpu = GpuSettings()
    jobs = JobResources()
    sizes = StorageSizes()
    return StackSettings(
        secrets=Secrets(
            postgres_password=cfg.require_secret("postgresPassword"),
            minio_root_password=cfg.require_secret("minioRootPassword"),
            discord_client_secret=cfg.require_secret("discordClientSecret"),
            session_secret=cfg.require_secret("sessionSecret"),
            storage_functions_secret_key=cfg.require_secret("storageFunctionsSecretKey"),
            storage_worker_secret_key=cfg.require_secret("storageWorkerSecretKey"),
        ),
        namespace=cfg.get("namespace") or defaults.namespace,
        public_host=cfg.get("publicHost") or defaults.public_host,
        s3_public_host=cfg.get("s3PublicHost") or "",
        public_scheme=cfg.get("publicScheme") or defaults.public_scheme,
        public_port=cfg.get_int("publicPort") or 0,
        tls_cluster_issuer=cfg.get("tlsClusterIssuer") or "",
        ingress_namespace=cfg.get("ingressNamespace") or defaults.ingress_namespace,
        images=Images(
            functions=cfg.get("imageFunctions") or image.functions,
            processing=cfg.get("imageProcessing") or image.processing,
            minio=cfg.get("imageMinio") or image.minio,
            postgres=cfg.get("imagePostgres") or image.postgres,
            nsq=cfg.get("imageNsq") or image.nsq,
            pull_policy=cfg.get("imagePullPolicy") or image.pull_policy,
        ),
        install_knative=_bool(cfg, "installKnative", default=True),
        knative_version=cfg.get("knativeVersion") or defaults.knative_version,
        net_istio_version=cfg.get("netIstioVersion") or defaults.net_istio_version,
        functions=FunctionScaling(
            min_scale=_int(cfg, "functionMinScale", scaling.min_scale),
            max_scale=_int(cfg, "functionMaxScale", scaling.max_scale),
            container_concurrency=_int(
                cfg, "functionContainerConcurrency", scaling.container_concurrency
            ),
            timeout_seconds=_int(cfg, "functionTimeoutSeconds", scaling.timeout_seconds),
            cpu_request=cfg.get("functionCpuRequest") or scaling.cpu_request,
            memory_request=cfg.get("functionMemoryRequest") or scaling.memory_request,
            cpu_limit=cfg.get("functionCpuLimit") or scaling.cpu_limit,
            memory_limit=cfg.get("functionMemoryLimit") or scaling.memory_limit,
        ),
        gpu=GpuSettings(
            enabled=_bool(cfg, "gpuEnabled", default=False),
            count=_int(cfg, "gpuCount", gpu.count),
            node_selector=_parse_selector(cfg.get("gpuNodeSelector") or "")
            or dict(gpu.node_selector),
            tolerations=tuple(cfg.get_object("gpuTolerations") or gpu.tolerations),
            runtime_class=cfg.get("gpuRuntimeClass") or gpu.runtime_class,
        ),
        jobs=JobResources(
            cpu_request=cfg.get("jobCpuRequest") or jobs.cpu_request,
            cpu_limit=cfg.get("jobCpuLimit") or jobs.cpu_limit,
            memory_request=cfg.get("jobMemoryRequest") or jobs.memory_request,
            memory_limit=cfg.get("jobMemoryLimit") or jobs.memory_limit,
        ),
        storage=StorageSizes(
            postgres=cfg.get("postgresStorage") or sizes.postgres,
            minio=cfg.get("minioStorage") or sizes.minio,
            nsqd=cfg.get("nsqdStorage") or sizes.nsqd,
            storage_class=cfg.get("storageClass") or "",
        ),
        external_database_host=cfg.get("externalDatabaseHost") or "",
        postgres_port=_int(cfg, "postgresPort", defaults.postgres_port),
        postgres_user=cfg.get("postgresUser") or defaults.postgres_user,
        postgres_db=cfg.get("postgresDb") or defaults.postgres_db,
        minio_root_user=cfg.get("minioRootUser") or defaults.minio_root_user,
        storage_functions_access_key=cfg.get("storageFunctionsAccessKey")
        or defaults.storage_functions_access_key,
        storage_worker_access_key=cfg.get("storageWorkerAccessKey")
        or defaults.storage_worker_access_key,
        bucket=cfg.get("bucket") or defaults.bucket,
        discord_client_id=cfg.get("discordClientId") or "",
        discord_guild_ids=tuple(cfg.get_object("discordGuildIds") or ()),
        frontend_url=cfg.get("frontendUrl") or "",
        log_level=cfg.get("logLevel") or defaults.log_level,
        transcode_encoder=cfg.get("transcodeEncoder") or defaults.transcode_encoder,
        worker_replicas=_int(cfg, "workerReplicas", defaults.worker_replicas),
        worker_concurrency=_int(cfg, "workerConcurrency", defaults.worker_concurrency),
        worker_port=_int(cfg, "workerPort", defaults.worker_port),
        reconcile_schedule=cfg.get("reconcileSchedule") or defaults.reconcile_schedule,
        service_monitor=_bool(cfg, "monitoringServiceMonitor", default=False),
    )


def _int(cfg: pulumi.Config, key: str, default: int) -> int:
    value = cfg.get_int(key)
    return default if value is None else value


def _bool(cfg: pulumi.Config, key: str, *, default: bool) -> bool:
    value = cfg.get_bool(key)
    return default if value is None else value
