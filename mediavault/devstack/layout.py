"""Where the local stack's binaries and data live, and which ports it uses."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mediavault.config import ProvisionSettings, Settings
from mediavault.errors import ConfigError
from mediavault.routes import FUNCTIONS

PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True)
class Binaries:
    """Paths of the programs the stack runs."""

    postgres_bin: Path
    minio: Path
    nsqd: Path
    nsqlookupd: Path
    python_bin: Path

    @classmethod
    def locate(cls, tools_dir: Path) -> Binaries:
        """Find every program; ConfigError names what is missing and how to get it."""
        postgres_bin = _postgres_bin()
        binaries = cls(
            postgres_bin=postgres_bin,
            minio=tools_dir / "bin" / "minio",
            nsqd=tools_dir / "bin" / "nsqd",
            nsqlookupd=tools_dir / "bin" / "nsqlookupd",
            python_bin=Path(sys.executable).parent,
        )
        for path in (postgres_bin / "postgres", binaries.minio, binaries.nsqd, binaries.nsqlookupd):
            if not path.exists():
                raise ConfigError("MEDIAVAULT_TOOLS_DIR", f"{path} is missing: run `make dev`")
        return binaries


def _postgres_bin() -> Path:
    """The newest PostgreSQL server installed from Debian's packages."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/postgres"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if not versions:
        raise ConfigError("PATH", "PostgreSQL server not installed: run `make dev`")
    return versions[-1].parent


@dataclass(frozen=True)
class StackLayout:
    """Data directory and the ports of the stack, derived from the application's settings."""

    data_dir: Path
    tools_dir: Path
    settings: Settings
    provision: ProvisionSettings
    functions_base_port: int
    lookupd_tcp_port: int
    minio_console_port: int
    dev_oauth_port: int = 18090
    fast_and_unsafe: bool = False  # tests: no fsync, nothing survives a crash anyway

    @classmethod
    def from_env(cls, settings: Settings, environ: Mapping[str, str] | None = None) -> StackLayout:
        """Read the dev-stack variables (MEDIAVAULT_DEV_*) beside the application settings."""
        env = os.environ if environ is None else environ
        return cls(
            data_dir=Path(env.get("MEDIAVAULT_DEV_DIR") or PROJECT_ROOT / ".dev").resolve(),
            tools_dir=default_tools_dir(env),
            settings=settings,
            provision=ProvisionSettings.from_env(env),
            functions_base_port=_port(env, "MEDIAVAULT_DEV_FUNCTIONS_PORT", 18081),
            lookupd_tcp_port=_port(env, "MEDIAVAULT_DEV_LOOKUPD_TCP_PORT", 14160),
            minio_console_port=_port(env, "MEDIAVAULT_DEV_MINIO_CONSOLE_PORT", 19001),
            dev_oauth_port=_port(env, "MEDIAVAULT_DEV_DISCORD_PORT", 18090),
        )

    @property
    def gateway_address(self) -> tuple[str, int]:
        """The gateway listens where API_BASE_URL points."""
        parts = urlsplit(self.settings.api_base_url)
        default = 443 if parts.scheme == "https" else 80
        return parts.hostname or "127.0.0.1", parts.port or default

    def worker_env(self) -> dict[str, str]:
        """The worker's own storage account (the functions' is every process's default)."""
        return {
            "S3_ACCESS_KEY": self.provision.worker.access_key,
            "S3_SECRET_KEY": self.provision.worker.secret_key,
        }

    def function_port(self, name: str) -> int:
        """Each function's own port, in route-table order."""
        return self.functions_base_port + FUNCTIONS.index(name)

    def function_url(self, name: str) -> str:
        """Where a function answers directly, without the gateway."""
        return f"http://127.0.0.1:{self.function_port(name)}"

    def ports(self) -> dict[str, tuple[str, int]]:
        """Every address the stack listens on, by what listens there."""
        settings = self.settings
        addresses = {
            "gateway (API_BASE_URL)": self.gateway_address,
            "PostgreSQL (POSTGRES_PORT)": (settings.database.host, settings.database.port),
            "MinIO (S3_ENDPOINT)": _split(settings.storage.endpoint),
            "MinIO console": ("127.0.0.1", self.minio_console_port),
            "nsqd (NSQD_TCP_ADDRESS)": _split(settings.queue.nsqd_tcp_address),
            "nsqd (NSQD_HTTP_ADDRESS)": _split(settings.queue.nsqd_http_address),
            "nsqlookupd": ("127.0.0.1", self.lookupd_tcp_port),
            "nsqlookupd (NSQLOOKUPD_HTTP_ADDRESSES)": _split(
                settings.queue.lookupd_http_addresses[0]
            ),
            "worker (WORKER_PORT)": (settings.processing.host, settings.processing.port),
            **{f"function {name}": ("127.0.0.1", self.function_port(name)) for name in FUNCTIONS},
        }
        if not settings.auth.discord_client_id:
            addresses["development OAuth2 provider"] = ("127.0.0.1", self.dev_oauth_port)
        return addresses


def _split(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host, int(port)


def default_tools_dir(environ: Mapping[str, str]) -> Path:
    """Built binaries are kept outside the clone, so a fresh clone reuses them."""
    configured = environ.get("MEDIAVAULT_TOOLS_DIR")
    if configured:
        return Path(configured)
    return Path(environ.get("HOME", "~")).expanduser() / ".cache" / "mediavault" / "tools"


def _port(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not 0 < int(raw) < 65536:
        raise ConfigError(name, f"must be a port number, got {raw!r}")
    return int(raw)
