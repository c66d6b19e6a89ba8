"""Write manifests/ from the Pulumi program run under mocks (`--check`: fail when stale)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from infra_pulumi.render import (  # noqa: E402
    manifest_files,
    read_manifests,
    run_program,
    write_manifests,
)

MANIFESTS = ROOT / "manifests"
# The plain-YAML flavour targets `skaffold dev` on a cluster that already runs Knative and Istio:
# bare image names (Skaffold swaps in what it built), a host that resolves to 127.0.0.1 and the
# port Skaffold forwards the ingress gateway to. Secrets are not rendered: Skaffold's hook
# creates them in the cluster (see skaffold.yaml), so these placeholders never leave memory.
RENDER_CONFIG = {
    "publicHost": "mediavault.127.0.0.1.sslip.io",
    "publicScheme": "http",
    "publicPort": "8080",
    "installKnative": "false",
    "imageFunctions": "mediavault-functions",
    "imageProcessing": "mediavault-processing",
    "imageMinio": "mediavault-minio",
    "discordClientId": "set-me",
    "postgresPassword": "placeholder-not-rendered",
    "minioRootPassword": "placeholder-not-rendered",
    "storageFunctionsSecretKey": "placeholder-not-rendered",
    "storageWorkerSecretKey": "placeholder-not-rendered",
    "discordClientSecret": "placeholder-not-rendered",
    "sessionSecret": "placeholder-not-rendered-placeholder-not-rendered",
}


def rendered() -> dict[str, str]:
    """Relative path → YAML text, as the program produces them now.

    The processing objects come in two flavours: cpu/ (default) and gpu/ (Skaffold's gpu profile).
    """
    files = manifest_files(run_program(RENDER_CONFIG))
    gpu = manifest_files(run_program({**RENDER_CONFIG, "gpuEnabled": "true"}))
    for name, text in gpu.items():
        if name.startswith("cpu/"):
            files["gpu/" + name.removeprefix("cpu/")] = text
    return files


def main(argv: list[str] | None = None) -> int:
    """Render, or with --check report whether manifests/ matches the program."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 when manifests/ is stale")
    args = parser.parse_args(argv)
    files = rendered()
    if args.check:
        if read_manifests(MANIFESTS) != files:
            print("manifests/ is stale: run scripts/render_manifests.py", file=sys.stderr)  # noqa: T201
            return 1
        return 0
    write_manifests(MANIFESTS, files)
    print(f"wrote {len(files)} files to {MANIFESTS.relative_to(ROOT)}/")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
