"""`pulumi up`/`preview`/`destroy` of this program through Pulumi's Automation API.

The program runs inline, in this process: only the pulumi CLI and the Kubernetes provider are
needed (no Python language host). State lives in a local file backend, secrets are encrypted
with a passphrase, and the provider reaches exactly the cluster of the given kubeconfig.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml
from pulumi import automation as auto

from infra_pulumi.settings import PROJECT
from infra_pulumi.stack import build

PROJECT_FILE = Path(__file__).resolve().parents[1] / "Pulumi.yaml"


def secret_keys(project_file: Path = PROJECT_FILE) -> frozenset[str]:
    """The config keys Pulumi.yaml declares secret: set encrypted, never in plain text."""
    config = yaml.safe_load(project_file.read_text()).get("config") or {}
    return frozenset(
        key for key, spec in config.items() if isinstance(spec, dict) and spec.get("secret")
    )


@dataclass(frozen=True)
class LocalBackend:
    """Where a stack's state lives and which tools and cluster it uses."""

    work_dir: Path  # state, Pulumi's home (nothing goes to ~/.pulumi)
    tools_dir: Path  # holds bin/pulumi and bin/pulumi-resource-kubernetes
    kubeconfig: Path
    passphrase: str

    def environment(self) -> dict[str, str]:
        """What the CLI and the provider it starts see, over the caller's own environment."""
        return {
            "PULUMI_BACKEND_URL": (self.work_dir / "state").resolve().as_uri(),
            "PULUMI_CONFIG_PASSPHRASE": self.passphrase,
            "PULUMI_HOME": str((self.work_dir / "home").resolve()),
            "PULUMI_SKIP_UPDATE_CHECK": "true",
            # The provider is found on PATH (the CLI's own bin dir comes first); it must never be
            # downloaded, and the caller's KUBECONFIG must not point it at another cluster.
            "PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION": "true",
            "KUBECONFIG": str(self.kubeconfig.resolve()),
        }


def local_stack(
    backend: LocalBackend,
    config: Mapping[str, str],
    stack_name: str = "local",
) -> auto.Stack:
    """Create or select the stack; set `config` (secret keys encrypted) when it has none yet."""
    for directory in ("state", "home"):
        (backend.work_dir / directory).mkdir(parents=True, exist_ok=True)
    command = auto.PulumiCommand(root=str(backend.tools_dir))
    options = auto.LocalWorkspaceOptions(
        work_dir=str(backend.work_dir),
        pulumi_home=str(backend.work_dir / "home"),
        env_vars=backend.environment(),
        secrets_provider="passphrase",
        project_settings=auto.ProjectSettings(name=PROJECT, runtime="python"),
        pulumi_command=command,
    )
    stack = auto.create_or_select_stack(
        stack_name, project_name=PROJECT, program=_program, opts=options
    )
    if not stack.get_all_config():
        secret = secret_keys()
        stack.set_all_config(
            {
                f"{PROJECT}:{key}": auto.ConfigValue(value, secret=key in secret)
                for key, value in config.items()
            }
        )
    return stack


def _program() -> None:
    build()
