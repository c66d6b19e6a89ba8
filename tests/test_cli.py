"""The `mediavault` command's help names every command it has."""

from __future__ import annotations

import argparse
import subprocess
import sys

from mediavault import cli


def test_help_names_every_command() -> None:
    parser = cli._parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    names = set(commands.choices)
    assert {"init", "worker", "reconcile", "token", "dev", "gateway", "dev-discord"} <= names
    result = subprocess.run(
        [sys.executable, "-m", "mediavault.cli", "--help"],
        capture_output=True, text=True, check=True, timeout=60,
    )  # fmt: skip
    description = result.stdout.split("positional arguments")[0]
    for name in names:
        assert name in description, name
        assert f"    {name} " in result.stdout, name
