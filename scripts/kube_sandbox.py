"""Try the Kubernetes deployment without a cluster: a throwaway API server and `pulumi up` on it.

    .venv/bin/python scripts/kube_sandbox.py start|up|preview|destroy|stop [--dir DIR]

`start` runs etcd, the control plane and kwok's fake node on free loopback ports (processes
outlive this command; `stop` ends them by pid) with the Knative, Istio, cert-manager and
Prometheus Operator CRDs. `up`, `preview` and `destroy` drive infra_pulumi/ through Pulumi's
Automation API with a local file backend in DIR/pulumi. See the README's Deployment section.
"""

from __future__ import annotations

import argparse
import os
import secrets
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mediavault.devstack.kubecluster import (
    KubeTools,
    start_cluster,
    stop_cluster,
)
from mediavault.devstack.kubeplatform import install_platform_stubs
from mediavault.devstack.kubeprocs import recorded
from mediavault.devstack.layout import PROJECT_ROOT, default_tools_dir
from mediavault.errors import MediaVaultError

if TYPE_CHECKING:
    from pulumi import automation as auto

DEFAULT_DIR = PROJECT_ROOT / ".dev" / "kube"
# The cluster has Knative's CRD but not its release files (they need a container runtime).
CONFIG = {"installKnative": "false", "discordClientId": "123456789012345678"}
PASSPHRASE_FILE = "pulumi-passphrase"  # noqa: S105  (a file name)


def _print(text: str) -> None:
    sys.stdout.write(text + "\n")


def _start(base: Path) -> None:
    if recorded(base):
        raise MediaVaultError(f"a sandbox already runs in {base}: `stop` it first")
    shutil.rmtree(base, ignore_errors=True)
    tools = KubeTools.locate(default_tools_dir(os.environ))
    cluster = start_cluster(tools, base)
    install_platform_stubs(cluster)
    _print(f"API server {cluster.server} (logs in {base / 'logs'}); to use kubectl:")
    _print(f"  export KUBECONFIG={cluster.kubeconfig} PATH={tools.kubectl.parent}:$PATH")


def _stack(base: Path) -> auto.Stack:
    from infra_pulumi.automation import LocalBackend, local_stack, secret_keys

    if not recorded(base):
        raise MediaVaultError(f"no sandbox runs in {base}: `start` one first")
    passphrase_file = base / PASSPHRASE_FILE
    if not passphrase_file.exists():
        passphrase_file.write_text(secrets.token_hex(16))
        passphrase_file.chmod(0o600)
    backend = LocalBackend(
        base / "pulumi",
        default_tools_dir(os.environ),
        base / "kubeconfig",
        passphrase_file.read_text(),
    )
    # Random, set once per sandbox; Pulumi keeps them encrypted in its state.
    config = {**CONFIG, **{key: secrets.token_hex(24) for key in secret_keys()}}
    return local_stack(backend, config, stack_name="sandbox")


def main(argv: list[str] | None = None) -> int:
    """Run one sandbox command."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "up", "preview", "destroy", "stop"])
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where the sandbox lives")
    args = parser.parse_args(argv)
    base: Path = args.dir.resolve()
    try:
        if args.command == "start":
            _start(base)
        elif args.command == "stop":
            stop_cluster(base)
            shutil.rmtree(base, ignore_errors=True)
        else:
            stack = _stack(base)
            if args.command == "up":
                outputs = stack.up(color="never", on_output=_print).outputs
                for key, output in outputs.items():
                    _print(f"{key}: {output.value}")
            elif args.command == "preview":
                stack.preview(color="never", on_output=_print)
            else:
                stack.destroy(color="never", on_output=_print)
    except MediaVaultError as error:
        _print(f"kube_sandbox: {error}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
