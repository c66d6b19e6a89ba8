"""The development OAuth2 provider: part of `make dev` only, never of a deployment."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from mediavault.config import Settings
from mediavault.devstack.layout import Binaries, StackLayout
from mediavault.devstack.services import dev_oauth_spec, function_specs
from tests.test_config import PRODUCTION

ROOT = Path(__file__).resolve().parent.parent


def _layout(**env: str) -> StackLayout:
    return StackLayout.from_env(Settings.from_env(env), env)


def _binaries() -> Binaries:
    here = Path(sys.executable).parent
    return Binaries(here, here / "minio", here / "nsqd", here / "nsqlookupd", here)


def test_make_dev_signs_in_through_it_when_no_discord_application_is_set() -> None:
    layout = _layout(MEDIAVAULT_DEV_DISCORD_PORT="18190")
    spec = dev_oauth_spec(layout, _binaries())
    assert spec is not None
    assert spec.argv[1:] == ("dev-discord", "--port=18190")
    for function in function_specs(layout, _binaries()):
        assert function.env["DISCORD_AUTHORIZE_URL"] == "http://127.0.0.1:18190/oauth2/authorize"
        assert function.env["DISCORD_CLIENT_ID"] == "fake-client-id"


def test_a_configured_discord_application_is_used_instead() -> None:
    layout = _layout(DISCORD_CLIENT_ID="123", DISCORD_CLIENT_SECRET="real")
    assert dev_oauth_spec(layout, _binaries()) is None
    for spec in function_specs(layout, _binaries()):
        assert not [name for name in spec.env if name.startswith("DISCORD_")]


def test_it_refuses_to_run_in_production(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {**PRODUCTION, "PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        [sys.executable, "-m", "mediavault.cli", "dev-discord", "--port=1"],
        env=env, capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 2
    assert "never runs in production" in result.stderr


def test_it_is_in_no_image_or_manifest() -> None:
    images = [path for path in ROOT.joinpath("docker").rglob("*") if path.is_file()]
    deployed = [*ROOT.joinpath("manifests").rglob("*.yaml"), *images]
    for path in deployed:
        assert "dev-discord" not in path.read_text(), path
