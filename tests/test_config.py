"""Settings: defaults for the local stack, fail-fast on missing or malformed variables."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import pytest

from mediavault.config import (
    DEV_FUNCTIONS_SECRET_KEY,
    DEV_PASSWORD,
    DEV_SESSION_SECRET,
    DEV_WORKER_SECRET_KEY,
    ProvisionSettings,
    Settings,
)
from mediavault.errors import ConfigError

PRODUCTION = {
    "MEDIAVAULT_ENV": "production",
    "POSTGRES_HOST": "db.internal",
    "POSTGRES_PASSWORD": "pg-secret",
    "S3_ACCESS_KEY": "mediavault-functions",
    "S3_SECRET_KEY": "functions-secret",
    "S3_ENDPOINT": "minio.internal:9000",
    "S3_PUBLIC_URL": "https://s3.example.org",
    "NSQD_TCP_ADDRESS": "nsqd.internal:4150",
    "NSQD_HTTP_ADDRESS": "nsqd.internal:4151",
    "DISCORD_CLIENT_ID": "123",
    "DISCORD_CLIENT_SECRET": "discord-secret",
    "SESSION_SECRET": "x" * 48,
    "API_BASE_URL": "https://vault.example.org",
    "FRONTEND_URL": "https://vault.example.org",
}


def test_development_defaults_match_the_local_stack() -> None:
    settings = Settings.from_env({})
    assert not settings.production
    assert settings.database.port == 15432
    assert settings.storage.endpoint == "127.0.0.1:19000"
    assert settings.api_base_url == "http://127.0.0.1:8080"
    assert settings.uploads.max_upload_bytes == 10 * 1024**3
    assert settings.auth.session_secret == DEV_SESSION_SECRET


def test_production_reads_everything_it_is_given() -> None:
    settings = Settings.from_env(PRODUCTION)
    assert settings.production
    assert settings.database.host == "db.internal"
    assert settings.storage.public_url == "https://s3.example.org"


@pytest.mark.parametrize("variable", sorted(PRODUCTION.keys() - {"MEDIAVAULT_ENV"}))
def test_production_has_no_default_for_secrets_and_endpoints(variable: str) -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != variable}
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(env)
    assert caught.value.variable == variable
    assert variable in str(caught.value)


def test_processes_that_sign_nobody_in_run_without_the_sign_in_secrets() -> None:
    signless = {
        k: v for k, v in PRODUCTION.items() if k not in ("DISCORD_CLIENT_SECRET", "SESSION_SECRET")
    }
    with pytest.raises(ConfigError, match="DISCORD_CLIENT_SECRET"):
        Settings.from_env(signless)
    settings = Settings.from_env(signless, sign_in=False)
    assert (settings.auth.discord_client_secret, settings.auth.session_secret) == ("", "")
    # Given anyway, they are still checked; outside production the defaults still apply.
    with pytest.raises(ConfigError, match="SESSION_SECRET"):
        Settings.from_env({**signless, "SESSION_SECRET": "short"}, sign_in=False)
    assert Settings.from_env({}, sign_in=False).auth.session_secret == DEV_SESSION_SECRET


def test_only_init_reads_minios_root_account_and_production_gives_it_no_default() -> None:
    accounts = {
        "MINIO_ROOT_USER": "root", "MINIO_ROOT_PASSWORD": "root-secret",
        "S3_FUNCTIONS_ACCESS_KEY": "fn", "S3_FUNCTIONS_SECRET_KEY": "fn-secret",
        "S3_WORKER_ACCESS_KEY": "wk", "S3_WORKER_SECRET_KEY": "wk-secret",
    }  # fmt: skip
    provision = ProvisionSettings.from_env({"MEDIAVAULT_ENV": "production", **accounts})
    assert (provision.root.access_key, provision.worker.secret_key) == ("root", "wk-secret")
    for variable in accounts:
        env = {"MEDIAVAULT_ENV": "production", **accounts}
        del env[variable]
        with pytest.raises(ConfigError, match=variable):
            ProvisionSettings.from_env(env)
    # Runtime settings never ask for the root account.
    assert Settings.from_env(PRODUCTION).storage.access_key == "mediavault-functions"


def test_production_refuses_the_development_session_secret() -> None:
    with pytest.raises(ConfigError, match="SESSION_SECRET: the development default"):
        Settings.from_env({**PRODUCTION, "SESSION_SECRET": DEV_SESSION_SECRET})


PROVISION = {
    "MEDIAVAULT_ENV": "production",
    "MINIO_ROOT_USER": "root", "MINIO_ROOT_PASSWORD": "root-secret",
    "S3_FUNCTIONS_ACCESS_KEY": "fn", "S3_FUNCTIONS_SECRET_KEY": "fn-secret",
    "S3_WORKER_ACCESS_KEY": "wk", "S3_WORKER_SECRET_KEY": "wk-secret",
}  # fmt: skip
DEV_SECRETS = [DEV_PASSWORD, DEV_FUNCTIONS_SECRET_KEY, DEV_WORKER_SECRET_KEY, DEV_SESSION_SECRET]


@pytest.mark.parametrize("secret", DEV_SECRETS)
@pytest.mark.parametrize("variable", ["POSTGRES_PASSWORD", "S3_SECRET_KEY"])
def test_production_refuses_the_development_passwords(variable: str, secret: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({**PRODUCTION, variable: secret})
    assert caught.value.variable == variable
    assert "development default" in caught.value.problem
    # Outside production they are the local stack's defaults.
    assert Settings.from_env({variable: secret}).environment == "development"


@pytest.mark.parametrize("secret", DEV_SECRETS)
@pytest.mark.parametrize(
    "variable", ["MINIO_ROOT_PASSWORD", "S3_FUNCTIONS_SECRET_KEY", "S3_WORKER_SECRET_KEY"]
)
def test_init_refuses_the_development_passwords_in_production(variable: str, secret: str) -> None:
    with pytest.raises(ConfigError) as caught:
        ProvisionSettings.from_env({**PROVISION, variable: secret})
    assert caught.value.variable == variable
    ProvisionSettings.from_env({variable: secret})  # development: accepted


def test_every_missing_production_variable_is_named_at_once() -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({"MEDIAVAULT_ENV": "production"})
    named = [variable for variable, _ in caught.value.problems]
    assert set(named) == PRODUCTION.keys() - {"MEDIAVAULT_ENV"}
    assert caught.value.variable == named[0]
    for variable in named:
        assert f"{variable}: is required but not set" in str(caught.value)
    with pytest.raises(ConfigError) as provision:
        ProvisionSettings.from_env({"MEDIAVAULT_ENV": "production"})
    assert {v for v, _ in provision.value.problems} == PROVISION.keys() - {"MEDIAVAULT_ENV"}


def test_every_malformed_variable_is_named_at_once() -> None:
    bad = {"POSTGRES_PORT": "five", "S3_USE_SSL": "maybe", "TRANSCODE_CRF": "99",
           "NSQLOOKUPD_HTTP_ADDRESSES": "a:1,no-port", "POSTGRES_POOL_MIN_SIZE": "20"}  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        Settings.from_env(bad)
    assert [v for v, _ in caught.value.problems] == [
        "POSTGRES_PORT", "S3_USE_SSL", "NSQLOOKUPD_HTTP_ADDRESSES", "TRANSCODE_CRF",
        "POSTGRES_POOL_MIN_SIZE",
    ]  # fmt: skip
    assert caught.value.variable == "POSTGRES_PORT"


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("POSTGRES_PORT", "five"),
        ("POSTGRES_PORT", "70000"),
        ("S3_USE_SSL", "maybe"),
        ("S3_ENDPOINT", "no-port"),
        ("S3_PUBLIC_URL", "ftp://example.org"),
        ("MEDIAVAULT_ENV", "staging"),
        ("TRANSCODE_ENCODER", "h264"),
        ("TRANSCODE_CRF", "99"),
        ("MULTIPART_THRESHOLD_BYTES", "1024"),
        ("S3_BUCKET", "no_underscores"),
        ("S3_READ_TIMEOUT_SECONDS", "0"),
        ("POSTGRES_STATEMENT_TIMEOUT_SECONDS", "forever"),
        ("WORKER_S3_READ_TIMEOUT_SECONDS", "-1"),
    ],
)
def test_malformed_values_name_their_variable(variable: str, value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        Settings.from_env({variable: value})
    assert caught.value.variable == variable


def test_the_worker_waits_longer_than_a_request_but_never_forever() -> None:
    settings = Settings.from_env({"POSTGRES_STATEMENT_TIMEOUT_SECONDS": "1.5"})
    assert settings.storage.read_timeout_seconds == 2.0
    assert settings.storage.call_deadline_seconds == 2.0
    assert settings.database.reply_timeout_seconds == 2.5
    assert settings.database.session_options() == (
        "-c statement_timeout=1500 -c idle_in_transaction_session_timeout=30000"
    )
    worker = settings.for_worker()
    assert worker.storage.read_timeout_seconds == 300.0
    assert worker.storage.call_deadline_seconds == 600.0
    assert worker.database.statement_timeout_seconds == 60.0
    assert worker.database.pool_timeout_seconds == settings.database.pool_timeout_seconds


def test_pool_bounds_are_checked_together() -> None:
    with pytest.raises(ConfigError, match="POSTGRES_POOL_MIN_SIZE"):
        Settings.from_env({"POSTGRES_POOL_MIN_SIZE": "5", "POSTGRES_POOL_MAX_SIZE": "2"})


def _run_cli(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "mediavault.cli", "init"],
        env={"PATH": "/usr/bin:/bin", **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_missing_variable_exits_non_zero_naming_it() -> None:
    env = {k: v for k, v in PRODUCTION.items() if k != "POSTGRES_PASSWORD"}
    result = _run_cli(env)
    assert result.returncode == 2
    assert "POSTGRES_PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_command_lists_every_bad_variable_before_exiting() -> None:
    result = _run_cli({"MEDIAVAULT_ENV": "production", "POSTGRES_PORT": "x"})
    assert result.returncode == 2
    assert "configuration errors:" in result.stderr
    # The command signs nobody in: it asks for neither sign-in secret.
    signless = PRODUCTION.keys() - {"MEDIAVAULT_ENV", "DISCORD_CLIENT_SECRET", "SESSION_SECRET"}
    for variable in signless | {"POSTGRES_PORT"}:
        assert f"\n  {variable}: " in result.stderr
    assert "Traceback" not in result.stderr


def test_a_malformed_variable_exits_non_zero_naming_it() -> None:
    result = _run_cli({"POSTGRES_PORT": "not-a-port"})
    assert result.returncode == 2
    assert "POSTGRES_PORT" in result.stderr
    assert "Traceback" not in result.stderr


class _Recording(dict[str, str]):
    """An environment that remembers every variable asked for."""

    def __init__(self) -> None:
        super().__init__()
        self.asked: set[str] = set()

    def get(self, key: str, default: object = None) -> Any:
        self.asked.add(key)
        return super().get(key, default)


def test_env_example_lists_every_variable_settings_read() -> None:
    from pathlib import Path

    from mediavault.devstack.layout import StackLayout

    environ = _Recording()
    StackLayout.from_env(Settings.from_env(environ), environ)
    example = (Path(__file__).resolve().parent.parent / ".env.example").read_text()
    lines = [line for line in example.splitlines() if "=" in line and not line.startswith("#")]
    listed = {line.split("=", 1)[0] for line in lines}
    assert environ.asked
    assert environ.asked - {"HOME"} <= listed, environ.asked - listed


def test_one_processing_image_name_everywhere() -> None:
    from pathlib import Path

    import yaml

    from infra_pulumi.settings import Images
    from mediavault.config import DEFAULT_PROCESSING_IMAGE

    root = Path(__file__).resolve().parent.parent
    pulumi_default = yaml.safe_load((root / "Pulumi.yaml").read_text())["config"][
        "imageProcessing"
    ]["default"]
    example = (root / ".env.example").read_text()
    assert Settings.from_env({}).processing.job_image == DEFAULT_PROCESSING_IMAGE
    assert Images().processing == pulumi_default == DEFAULT_PROCESSING_IMAGE
    assert f"\nPROCESSING_IMAGE={DEFAULT_PROCESSING_IMAGE}\n" in example


def test_download_urls_are_reused_for_five_minutes_unless_configured_otherwise() -> None:
    assert Settings.from_env({}).storage.download_url_reuse_seconds == 300
    off = Settings.from_env({"DOWNLOAD_URL_REUSE_SECONDS": "0"})
    assert off.storage.download_url_reuse_seconds == 0
    for bad in ("-1", "86401", "soon"):
        with pytest.raises(ConfigError) as caught:
            Settings.from_env({"DOWNLOAD_URL_REUSE_SECONDS": bad})
        assert caught.value.variable == "DOWNLOAD_URL_REUSE_SECONDS"
    # A presigned URL may be valid for 7 days at most: expiry and reuse window together.
    with pytest.raises(ConfigError, match=r"DOWNLOAD_URL_REUSE_SECONDS: .*7 days"):
        Settings.from_env({"DOWNLOAD_URL_EXPIRY_SECONDS": str(7 * 24 * 3600 - 60),
                           "DOWNLOAD_URL_REUSE_SECONDS": "61"})  # fmt: skip
