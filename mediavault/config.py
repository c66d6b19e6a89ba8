"""Settings read once from the environment into typed, immutable value objects."""

from __future__ import annotations

import os
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import NoReturn
from urllib.parse import urlsplit

from mediavault.errors import ConfigError

DEV_SESSION_SECRET = "mediavault-dev-session-secret-not-for-production"  # noqa: S105
DEV_PASSWORD = "mediavault-dev-password"  # noqa: S105
DEV_MINIO_ROOT_USER = "mediavault"
DEV_FUNCTIONS_ACCESS_KEY = "mediavault-functions"
DEV_FUNCTIONS_SECRET_KEY = "mediavault-dev-functions-secret"  # noqa: S105
DEV_WORKER_ACCESS_KEY = "mediavault-worker"
DEV_WORKER_SECRET_KEY = "mediavault-dev-worker-secret"  # noqa: S105
# Published in this repository: production refuses each of them for every password and secret.
DEV_SECRETS = frozenset(
    {DEV_SESSION_SECRET, DEV_PASSWORD, DEV_FUNCTIONS_SECRET_KEY, DEV_WORKER_SECRET_KEY}
)
ENVIRONMENTS = ("development", "production")
ENCODERS = ("auto", "libx265", "hevc_nvenc")
TRANSCODE_POLICIES = ("required", "all", "disabled")
WEB_RENDITIONS = ("auto", "always", "never")
X265_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast",
    "medium", "slow", "slower", "veryslow", "placebo",
)  # fmt: skip
# What `.github/workflows/docker-build.yml` publishes; Pulumi's imageProcessing defaults to it too.
DEFAULT_PROCESSING_IMAGE = "ghcr.io/mediavault/mediavault-processing:latest"
GIB = 1024**3
MIB = 1024**2


@dataclass(frozen=True)
class DatabaseSettings:
    """Where PostgreSQL is and how the pool behaves."""

    host: str
    port: int
    user: str
    password: str
    name: str
    pool_min_size: int
    pool_max_size: int
    connect_timeout_seconds: int
    pool_timeout_seconds: float
    statement_timeout_seconds: float
    idle_in_transaction_timeout_seconds: float

    @property
    def reply_timeout_seconds(self) -> float:
        """How long the client waits for any answer: past the server's own statement timeout."""
        # A server that has not answered a second after it would have cancelled the statement
        # itself is not answering (stopped, or cut off with the kernel still acknowledging).
        return self.statement_timeout_seconds + 1.0

    def session_options(self) -> str:
        """libpq `options` for the pool's sessions: the server-side bounds."""
        statement = round(self.statement_timeout_seconds * 1000)
        idle = round(self.idle_in_transaction_timeout_seconds * 1000)
        return f"-c statement_timeout={statement} -c idle_in_transaction_session_timeout={idle}"

    def conninfo(self) -> str:
        """A libpq connection string (password included; never log it)."""
        from psycopg.conninfo import make_conninfo

        return make_conninfo(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.name,
            connect_timeout=self.connect_timeout_seconds,
            application_name="mediavault",
            # A peer gone without a word (host down, cable cut) is noticed within about 30 s,
            # and unacknowledged writes give up after as long.
            keepalives=1,
            keepalives_idle=10,
            keepalives_interval=5,
            keepalives_count=3,
            tcp_user_timeout=30_000,
        )


@dataclass(frozen=True)
class StorageSettings:
    """MinIO: the endpoint functions talk to and the public one browsers see."""

    endpoint: str
    use_ssl: bool
    public_url: str
    access_key: str
    secret_key: str
    region: str
    bucket: str
    presign_expiry_seconds: int
    download_expiry_seconds: int
    # GET URLs are dated at the start of a window this long and handed out unchanged all through
    # it (browsers cache them); each stays valid download_expiry_seconds at least, this much more
    # at most. 0 signs every URL afresh.
    download_url_reuse_seconds: int
    notify_arn: str
    connect_timeout_seconds: float
    read_timeout_seconds: float
    # A storage call retries (after a refused connection, a reset, a 503) only within this.
    call_deadline_seconds: float


@dataclass(frozen=True)
class QueueSettings:
    """NSQ addresses and the uploads topic."""

    nsqd_tcp_address: str
    nsqd_http_address: str
    lookupd_http_addresses: tuple[str, ...]
    topic: str
    channel: str


@dataclass(frozen=True)
class AuthSettings:
    """Discord OAuth2 and sessions."""

    discord_client_id: str
    discord_client_secret: str
    discord_guild_ids: tuple[str, ...]
    discord_authorize_url: str
    discord_token_url: str
    discord_api_base_url: str
    session_secret: str
    session_cookie_name: str
    session_cookie_domain: str
    session_max_age_seconds: int
    signin_starts_per_client: int  # per SIGNIN_WINDOW_SECONDS, per client network
    api_tokens_per_user: int  # live tokens at once
    api_token_creates_per_user_per_hour: int


@dataclass(frozen=True)
class UploadSettings:
    """Limits on what may be uploaded."""

    max_upload_bytes: int
    multipart_threshold_bytes: int
    multipart_part_size_bytes: int
    allowed_content_types: tuple[str, ...]
    user_quota_bytes: int
    pending_max_age_seconds: int
    max_pending_per_user: int
    per_user_per_minute: int


@dataclass(frozen=True)
class TranscodeSettings:
    """How videos become HEVC."""

    encoder: str
    policy: str
    crf: int
    preset: str
    max_height: int
    web_rendition: str = "auto"  # auto | always | never: the H.264 file every browser plays


@dataclass(frozen=True)
class ProcessingSettings:
    """The worker and where its jobs run (in the worker, or as Kubernetes Jobs)."""

    executor: str
    concurrency: int
    host: str
    port: int
    max_attempts: int
    job_timeout_seconds: int
    msg_timeout_seconds: int
    heartbeat_seconds: int
    stale_after_seconds: int
    k8s_namespace: str
    job_image: str
    job_service_account: str
    job_env_configmap: str
    job_env_secrets: tuple[str, ...]
    job_backoff_limit: int
    job_deadline_seconds: int
    job_ttl_seconds: int
    job_cpu_request: str
    job_cpu_limit: str
    job_memory_request: str
    job_memory_limit: str
    gpu_enabled: bool
    gpu_count: int
    gpu_node_selector: tuple[tuple[str, str], ...]
    gpu_tolerations: tuple[str, ...]
    gpu_runtime_class: str
    max_pixels: int
    max_duration_seconds: int
    max_frames: int
    max_memory_bytes: int
    seconds_per_hd_second: int
    max_jobs_per_owner: int
    scratch_dir: str
    worker_id: str
    # The worker's own, longer bounds: large copies, long uploads of derived files, batches.
    statement_timeout_seconds: float
    storage_read_timeout_seconds: float
    storage_call_deadline_seconds: float
    decoder_uid: int = 65534  # what a root worker's decoders run as (nobody)
    decoder_gid: int = 65534


@dataclass(frozen=True)
class Settings:
    """Everything MediaVault reads from its environment."""

    environment: str
    log_level: str
    api_base_url: str
    frontend_url: str
    max_json_bytes: int
    database: DatabaseSettings
    storage: StorageSettings
    queue: QueueSettings
    auth: AuthSettings
    uploads: UploadSettings
    transcode: TranscodeSettings
    processing: ProcessingSettings

    @property
    def production(self) -> bool:
        """True when deployed: no embedded defaults for secrets and endpoints."""
        return self.environment == "production"

    def for_worker(self) -> Settings:
        """These settings with the worker's longer bounds on PostgreSQL and MinIO."""
        processing = self.processing
        return replace(
            self,
            database=replace(
                self.database, statement_timeout_seconds=processing.statement_timeout_seconds
            ),
            storage=replace(
                self.storage,
                read_timeout_seconds=processing.storage_read_timeout_seconds,
                call_deadline_seconds=processing.storage_call_deadline_seconds,
            ),
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, sign_in: bool = True
    ) -> Settings:
        """Read and validate every setting; raise one ConfigError naming every bad variable."""
        env = _Reader(os.environ if environ is None else environ)
        environment = env.choice("MEDIAVAULT_ENV", "development", ENVIRONMENTS)
        env.production = environment == "production"
        settings = cls(
            environment=environment,
            log_level=env.choice(
                "LOG_LEVEL", "INFO", ("DEBUG", "INFO", "WARNING", "ERROR"), upper=True
            ),
            api_base_url=env.url("API_BASE_URL", "http://127.0.0.1:8080", required=True),
            frontend_url=env.url("FRONTEND_URL", "http://127.0.0.1:8080", required=True),
            # A multipart `complete` of 10,000 parts is the largest body the API takes (~700 KB).
            max_json_bytes=env.integer("MAX_JSON_BYTES", 1024 * 1024, minimum=1024),
            database=DatabaseSettings(
                host=env.text("POSTGRES_HOST", "127.0.0.1", required=True),
                port=env.integer("POSTGRES_PORT", 15432, minimum=1, maximum=65535),
                user=env.text("POSTGRES_USER", "mediavault"),
                password=env.secret("POSTGRES_PASSWORD", DEV_PASSWORD),
                name=env.text("POSTGRES_DB", "mediavault"),
                pool_min_size=env.integer("POSTGRES_POOL_MIN_SIZE", 1, minimum=0),
                pool_max_size=env.integer("POSTGRES_POOL_MAX_SIZE", 10, minimum=1),
                connect_timeout_seconds=env.integer("POSTGRES_CONNECT_TIMEOUT_SECONDS", 3, 1),
                # How long a request waits for a connection before it answers 503.
                pool_timeout_seconds=env.number(
                    "POSTGRES_POOL_TIMEOUT_SECONDS", 1.0, minimum=0.1, maximum=60
                ),
                statement_timeout_seconds=env.number(
                    "POSTGRES_STATEMENT_TIMEOUT_SECONDS", 2.0, minimum=0.1, maximum=3600
                ),
                idle_in_transaction_timeout_seconds=env.number(
                    "POSTGRES_IDLE_IN_TRANSACTION_TIMEOUT_SECONDS", 30.0, minimum=1, maximum=3600
                ),
            ),
            storage=StorageSettings(
                endpoint=env.address("S3_ENDPOINT", "127.0.0.1:19000", required=True),
                use_ssl=env.boolean("S3_USE_SSL", default=False),
                public_url=env.url("S3_PUBLIC_URL", "http://127.0.0.1:19000", required=True),
                # The process's own scoped credentials (functions or worker), never MinIO's root.
                access_key=env.text("S3_ACCESS_KEY", DEV_FUNCTIONS_ACCESS_KEY, required=True),
                secret_key=env.secret("S3_SECRET_KEY", DEV_FUNCTIONS_SECRET_KEY),
                region=env.text("S3_REGION", "us-east-1"),
                bucket=env.bucket("S3_BUCKET", "mediavault"),
                presign_expiry_seconds=env.integer(
                    "PRESIGN_EXPIRY_SECONDS", 3600, minimum=60, maximum=7 * 24 * 3600
                ),
                download_expiry_seconds=env.integer(
                    "DOWNLOAD_URL_EXPIRY_SECONDS", 900, minimum=60, maximum=7 * 24 * 3600
                ),
                download_url_reuse_seconds=env.integer(
                    "DOWNLOAD_URL_REUSE_SECONDS", 300, minimum=0, maximum=24 * 3600
                ),
                notify_arn=env.text("MINIO_NOTIFY_ARN", "arn:minio:sqs::_:nsq"),
                connect_timeout_seconds=env.number(
                    "S3_CONNECT_TIMEOUT_SECONDS", 1.0, minimum=0.1, maximum=60
                ),
                read_timeout_seconds=env.number(
                    "S3_READ_TIMEOUT_SECONDS", 2.0, minimum=0.1, maximum=3600
                ),
                call_deadline_seconds=env.number(
                    "S3_CALL_DEADLINE_SECONDS", 2.0, minimum=0, maximum=3600
                ),
            ),
            queue=QueueSettings(
                nsqd_tcp_address=env.address("NSQD_TCP_ADDRESS", "127.0.0.1:14150", required=True),
                nsqd_http_address=env.address(
                    "NSQD_HTTP_ADDRESS", "127.0.0.1:14151", required=True
                ),
                lookupd_http_addresses=env.address_list(
                    "NSQLOOKUPD_HTTP_ADDRESSES", ("127.0.0.1:14161",)
                ),
                topic=env.text("NSQ_TOPIC", "mediavault-uploads"),
                channel=env.text("NSQ_CHANNEL", "processing"),
            ),
            auth=AuthSettings(
                discord_client_id=env.text("DISCORD_CLIENT_ID", "", required=True),
                # Only processes that sign users in (the functions) hold these two secrets; the
                # worker, its Jobs and the CLI read settings with sign_in=False and go without.
                discord_client_secret=env.text("DISCORD_CLIENT_SECRET", "", required=sign_in),
                discord_guild_ids=env.csv("DISCORD_GUILD_IDS", ()),
                discord_authorize_url=env.url(
                    "DISCORD_AUTHORIZE_URL", "https://discord.com/oauth2/authorize"
                ),
                discord_token_url=env.url(
                    "DISCORD_TOKEN_URL", "https://discord.com/api/oauth2/token"
                ),
                discord_api_base_url=env.url("DISCORD_API_BASE_URL", "https://discord.com/api"),
                session_secret=env.session_secret("SESSION_SECRET", required=sign_in),
                session_cookie_name=env.text("SESSION_COOKIE_NAME", "mv_session"),
                session_cookie_domain=env.text("SESSION_COOKIE_DOMAIN", ""),
                session_max_age_seconds=env.integer(
                    "SESSION_MAX_AGE_SECONDS", 30 * 24 * 3600, minimum=60
                ),
                signin_starts_per_client=env.integer("SIGNIN_STARTS_PER_CLIENT", 30, minimum=1),
                api_tokens_per_user=env.integer("API_TOKENS_PER_USER", 100, minimum=1),
                api_token_creates_per_user_per_hour=env.integer(
                    "API_TOKEN_CREATES_PER_USER_PER_HOUR", 20, minimum=1
                ),
            ),
            uploads=UploadSettings(
                max_upload_bytes=env.integer("MAX_UPLOAD_BYTES", 10 * GIB, minimum=1),
                multipart_threshold_bytes=env.integer(
                    "MULTIPART_THRESHOLD_BYTES", 64 * MIB, minimum=5 * MIB
                ),
                multipart_part_size_bytes=env.integer(
                    "MULTIPART_PART_SIZE_BYTES", 16 * MIB, minimum=5 * MIB, maximum=5 * GIB
                ),
                allowed_content_types=env.csv(
                    "ALLOWED_CONTENT_TYPES", ("image/*", "video/*", "audio/*")
                ),
                user_quota_bytes=env.integer("USER_QUOTA_BYTES", 0, minimum=0),
                pending_max_age_seconds=env.integer(
                    "PENDING_UPLOAD_MAX_AGE_SECONDS", 24 * 3600, minimum=60
                ),
                max_pending_per_user=env.integer("MAX_PENDING_UPLOADS_PER_USER", 500, minimum=1),
                per_user_per_minute=env.integer("UPLOADS_PER_USER_PER_MINUTE", 600, minimum=1),
            ),
            transcode=TranscodeSettings(
                encoder=env.choice("TRANSCODE_ENCODER", "auto", ENCODERS),
                policy=env.choice("TRANSCODE_POLICY", "required", TRANSCODE_POLICIES),
                crf=env.integer("TRANSCODE_CRF", 28, minimum=0, maximum=51),
                preset=env.choice("TRANSCODE_PRESET", "medium", X265_PRESETS),
                max_height=env.integer("TRANSCODE_MAX_HEIGHT", 0, minimum=0),
                web_rendition=env.choice("TRANSCODE_WEB_RENDITION", "auto", WEB_RENDITIONS),
            ),
            processing=ProcessingSettings(
                executor=env.choice("PROCESSING_EXECUTOR", "local", ("local", "kubernetes")),
                concurrency=env.integer("WORKER_CONCURRENCY", 2, minimum=1, maximum=64),
                host=env.text("WORKER_HOST", "127.0.0.1"),
                port=env.integer("WORKER_PORT", 18089, minimum=1, maximum=65535),
                max_attempts=env.integer("PROCESSING_MAX_ATTEMPTS", 5, minimum=1),
                job_timeout_seconds=env.integer("PROCESSING_JOB_TIMEOUT_SECONDS", 4 * 3600, 10),
                msg_timeout_seconds=env.integer(
                    "WORKER_MSG_TIMEOUT_SECONDS", 60, minimum=1, maximum=3600
                ),
                heartbeat_seconds=env.integer("PROCESSING_HEARTBEAT_SECONDS", 5, minimum=1),
                stale_after_seconds=env.integer("PROCESSING_STALE_AFTER_SECONDS", 120, minimum=2),
                k8s_namespace=env.text("K8S_NAMESPACE", "mediavault"),
                job_image=env.text("PROCESSING_IMAGE", DEFAULT_PROCESSING_IMAGE),
                job_service_account=env.text("PROCESSING_JOB_SERVICE_ACCOUNT", ""),
                job_env_configmap=env.text("PROCESSING_JOB_CONFIGMAP", "mediavault-config"),
                job_env_secrets=env.csv(
                    "PROCESSING_JOB_SECRET", ("mediavault-secrets", "mediavault-worker-secrets")
                ),
                job_backoff_limit=env.integer("PROCESSING_JOB_BACKOFF_LIMIT", 2, minimum=0),
                job_deadline_seconds=env.integer("PROCESSING_JOB_DEADLINE_SECONDS", 6 * 3600, 60),
                job_ttl_seconds=env.integer("PROCESSING_JOB_TTL_SECONDS", 3600, minimum=0),
                job_cpu_request=env.text("PROCESSING_JOB_CPU_REQUEST", "1"),
                job_cpu_limit=env.text("PROCESSING_JOB_CPU_LIMIT", "4"),
                job_memory_request=env.text("PROCESSING_JOB_MEMORY_REQUEST", "1Gi"),
                job_memory_limit=env.text("PROCESSING_JOB_MEMORY_LIMIT", "4Gi"),
                gpu_enabled=env.boolean("PROCESSING_GPU", default=False),
                gpu_count=env.integer("PROCESSING_GPU_COUNT", 1, minimum=1),
                gpu_node_selector=env.pairs("PROCESSING_GPU_NODE_SELECTOR"),
                gpu_tolerations=env.csv("PROCESSING_GPU_TOLERATIONS", ()),
                gpu_runtime_class=env.text("PROCESSING_GPU_RUNTIME_CLASS", ""),
                max_pixels=env.integer("PROCESSING_MAX_PIXELS", 120_000_000, minimum=1),
                max_duration_seconds=env.integer(
                    "PROCESSING_MAX_DURATION_SECONDS", 4 * 3600, minimum=1
                ),
                max_frames=env.integer("PROCESSING_MAX_FRAMES", 4 * 3600 * 60, minimum=1),
                max_memory_bytes=env.integer("PROCESSING_MAX_MEMORY_BYTES", 8 * GIB, minimum=0),
                seconds_per_hd_second=env.integer(
                    "PROCESSING_SECONDS_PER_HD_SECOND", 30, minimum=1
                ),
                max_jobs_per_owner=env.integer("PROCESSING_MAX_JOBS_PER_OWNER", 1, minimum=1),
                scratch_dir=env.text("PROCESSING_SCRATCH_DIR", ""),
                # Jobs a worker of this id held when it died are taken back when it restarts:
                # give each worker on one host its own id.
                worker_id=env.text("WORKER_ID", socket.gethostname()),
                statement_timeout_seconds=env.number(
                    "WORKER_POSTGRES_STATEMENT_TIMEOUT_SECONDS", 60.0, minimum=0.1, maximum=86400
                ),
                storage_read_timeout_seconds=env.number(
                    "WORKER_S3_READ_TIMEOUT_SECONDS", 300.0, minimum=0.1, maximum=86400
                ),
                storage_call_deadline_seconds=env.number(
                    "WORKER_S3_CALL_DEADLINE_SECONDS", 600.0, minimum=0, maximum=86400
                ),
                # Never 0: a decoder reads hostile bytes. Used only when the worker is root.
                decoder_uid=env.integer("PROCESSING_DECODER_UID", 65534, 1, 2**32 - 2),
                decoder_gid=env.integer("PROCESSING_DECODER_GID", 65534, 1, 2**32 - 2),
            ),
        )
        if settings.database.pool_min_size > settings.database.pool_max_size:
            env.fail("POSTGRES_POOL_MIN_SIZE", "must not exceed POSTGRES_POOL_MAX_SIZE")
        storage = settings.storage
        if storage.download_expiry_seconds + storage.download_url_reuse_seconds > 7 * 24 * 3600:
            # S3 refuses presigned URLs valid for longer than 7 days.
            env.fail(
                "DOWNLOAD_URL_REUSE_SECONDS",
                "plus DOWNLOAD_URL_EXPIRY_SECONDS must not exceed 7 days (604800 s)",
            )
        env.check()
        return settings


@dataclass(frozen=True)
class AccessKey:
    """An S3 access key pair."""

    access_key: str
    secret_key: str


@dataclass(frozen=True)
class ProvisionSettings:
    """What only `mediavault init` reads: MinIO's root account and the role accounts it makes."""

    root: AccessKey
    functions: AccessKey
    worker: AccessKey

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProvisionSettings:
        """Read the root and role credentials; raise one ConfigError naming every bad variable."""
        env = _Reader(os.environ if environ is None else environ)
        env.production = env.choice("MEDIAVAULT_ENV", "development", ENVIRONMENTS) == "production"
        provision = cls(
            root=AccessKey(
                env.text("MINIO_ROOT_USER", DEV_MINIO_ROOT_USER, required=True),
                env.secret("MINIO_ROOT_PASSWORD", DEV_PASSWORD),
            ),
            functions=AccessKey(
                env.text("S3_FUNCTIONS_ACCESS_KEY", DEV_FUNCTIONS_ACCESS_KEY, required=True),
                env.secret("S3_FUNCTIONS_SECRET_KEY", DEV_FUNCTIONS_SECRET_KEY),
            ),
            worker=AccessKey(
                env.text("S3_WORKER_ACCESS_KEY", DEV_WORKER_ACCESS_KEY, required=True),
                env.secret("S3_WORKER_SECRET_KEY", DEV_WORKER_SECRET_KEY),
            ),
        )
        env.check()
        return provision


def load_settings_or_exit(
    environ: Mapping[str, str] | None = None, *, sign_in: bool = True
) -> Settings:
    """Settings for an entry point: a bad environment ends the process with a clear message."""
    try:
        return Settings.from_env(environ, sign_in=sign_in)
    except ConfigError as error:
        exit_with_config_error(error)


def exit_with_config_error(error: ConfigError) -> NoReturn:
    """Print every configuration problem (no traceback) and exit with status 2."""
    if len(error.problems) == 1:
        message = f"mediavault: configuration error: {error}"
    else:
        listed = "".join(f"\n  {name}: {problem}" for name, problem in error.problems)
        message = f"mediavault: {len(error.problems)} configuration errors:{listed}"
    print(message, file=sys.stderr)  # noqa: T201
    raise SystemExit(2)


class _Reader:
    """Reads variables, applying defaults only outside production, and collects every problem."""

    # A bad variable is recorded and its default used in its place, so that one run names all of
    # them; `check()` raises them together.

    def __init__(self, environ: Mapping[str, str]) -> None:
        self._environ = environ
        self.production = False
        self.errors: list[ConfigError] = []

    def fail(self, name: str, problem: str) -> None:
        """Record a problem with a variable."""
        self.errors.append(ConfigError(name, problem))

    def check(self) -> None:
        """Raise one ConfigError naming every problem recorded, the first as its `variable`."""
        if self.errors:
            first, *rest = self.errors
            raise ConfigError(
                first.variable, first.problem, also=[p for e in rest for p in e.problems]
            )

    def _raw(self, name: str, default: str, *, required: bool = False) -> str:
        value = self._environ.get(name, "").strip()
        if value:
            return value
        if required and self.production:
            self.fail(name, "is required but not set")
        return default

    def text(self, name: str, default: str, *, required: bool = False) -> str:
        return self._raw(name, default, required=required)

    def secret(self, name: str, default: str) -> str:
        """A password or secret key: required in production, never a development one there."""
        value = self._raw(name, default, required=True)
        if self.production and value in DEV_SECRETS:
            self.fail(name, "a development default is refused in production")
        return value

    def integer(
        self, name: str, default: int, minimum: int | None = None, maximum: int | None = None
    ) -> int:
        raw = self._raw(name, str(default))
        try:
            value = int(raw.replace("_", ""))
        except ValueError:
            self.fail(name, f"must be an integer, got {raw!r}")
            return default
        if minimum is not None and value < minimum:
            self.fail(name, f"must be at least {minimum}, got {value}")
            return default
        if maximum is not None and value > maximum:
            self.fail(name, f"must be at most {maximum}, got {value}")
            return default
        return value

    def number(self, name: str, default: float, minimum: float, maximum: float) -> float:
        raw = self._raw(name, str(default))
        try:
            value = float(raw)
        except ValueError:
            self.fail(name, f"must be a number, got {raw!r}")
            return default
        if not minimum <= value <= maximum:
            self.fail(name, f"must be within {minimum:g}..{maximum:g}, got {raw!r}")
            return default
        return value

    def boolean(self, name: str, *, default: bool) -> bool:
        raw = self._raw(name, "true" if default else "false").lower()
        if raw in ("1", "true", "yes", "on"):
            return True
        if raw in ("0", "false", "no", "off"):
            return False
        self.fail(name, f"must be true or false, got {raw!r}")
        return default

    def choice(self, name: str, default: str, choices: tuple[str, ...], upper: bool = False) -> str:
        raw = self._raw(name, default)
        value = raw.upper() if upper else raw.lower()
        if value not in choices:
            self.fail(name, f"must be one of {', '.join(choices)}, got {raw!r}")
            return default
        return value

    def url(self, name: str, default: str, *, required: bool = False) -> str:
        raw = self._raw(name, default, required=required)
        parts = urlsplit(raw)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            self.fail(name, f"must be an http(s) URL, got {raw!r}")
            return default
        return raw.rstrip("/")

    def address(self, name: str, default: str, *, required: bool = False) -> str:
        raw = self._raw(name, default, required=required)
        if not _is_address(raw):
            self.fail(name, f"must be host:port, got {raw!r}")
            return default
        return raw

    def address_list(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        values = self.csv(name, default)
        bad = [value for value in values if not _is_address(value)]
        if bad:
            self.fail(name, f"must be host:port, got {bad[0]!r}")
            return default
        return values

    def csv(self, name: str, default: tuple[str, ...]) -> tuple[str, ...]:
        raw = self._environ.get(name, "").strip()
        if not raw:
            return default
        return tuple(item.strip() for item in raw.split(",") if item.strip())

    def pairs(self, name: str) -> tuple[tuple[str, str], ...]:
        """`key=value,key=value` into pairs."""
        pairs = []
        for item in self.csv(name, ()):
            key, sep, value = item.partition("=")
            if not sep or not key.strip():
                self.fail(name, f"expected key=value pairs, got {item!r}")
                return ()
            pairs.append((key.strip(), value.strip()))
        return tuple(pairs)

    def bucket(self, name: str, default: str) -> str:
        value = self._raw(name, default)
        if not (3 <= len(value) <= 63) or not all(c.isalnum() or c in "-." for c in value):
            self.fail(name, f"is not a valid bucket name: {value!r}")
            return default
        return value.lower()

    def session_secret(self, name: str, *, required: bool = True) -> str:
        if not required and self.production and not self._environ.get(name, "").strip():
            return ""  # this process signs nothing
        value = self._raw(name, DEV_SESSION_SECRET, required=True)
        if self.production and value in DEV_SECRETS:
            self.fail(name, "the development default is refused in production")
        elif self.production and len(value) < 32:
            self.fail(name, "must be at least 32 characters in production")
        return value


def _is_address(value: str) -> bool:
    """host:port, with a port in range."""
    host, _, port = value.rpartition(":")
    return bool(host) and port.isdigit() and 0 < int(port) < 65536
