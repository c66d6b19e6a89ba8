"""Subcommands other packages register with `mediavault` (processing's `worker`), by entry point.

The core never imports those packages: each declares its commands under the `mediavault.commands`
entry point group (pyproject.toml) and the CLI finds them there. A package missing from an image
(processing in the functions' image) simply has no command there.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mediavault.config import Settings

logger = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "mediavault.commands"


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    """A command without options."""


@dataclass(frozen=True)
class Command:
    """A `mediavault` subcommand defined outside the core; it runs with the server's settings."""

    name: str
    help: str
    run: Callable[[argparse.Namespace, Settings], int]
    configure: Callable[[argparse.ArgumentParser], None] = field(default=_no_arguments)


def registered() -> list[Command]:
    """The commands installed packages register; one whose package is not importable is left out."""
    from importlib.metadata import entry_points

    found = []
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        try:
            command = entry.load()
        except ImportError as error:
            logger.debug("command %s unavailable here: %s", entry.name, error)
            continue
        if isinstance(command, Command):
            found.append(command)
    return sorted(found, key=lambda command: command.name)
