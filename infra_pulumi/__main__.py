"""Pulumi entry point: `pulumi up` from the repository root (Pulumi.yaml: main: infra_pulumi/)."""

from __future__ import annotations

import sys
from pathlib import Path

# Pulumi runs this directory as a script; the repository root makes `infra_pulumi` and the
# route table (`mediavault.routes`) importable as packages.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from infra_pulumi.stack import build

build()
