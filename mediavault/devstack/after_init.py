"""`python -m mediavault.devstack.after_init MARKER -- COMMAND…`: COMMAND once MARKER exists."""

# The local stack starts every process at once, but the worker and reconcile need the tables that
# initialisation creates (on a first run they would fail and take the stack down): the stack
# writes the marker once `init` is done, and these two wait for it.

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mediavault.devstack.services import wait_until
from mediavault.errors import MediaVaultError

DEADLINE_SECONDS = 600.0


def main(argv: Sequence[str]) -> int:  # noqa: RET503  (execv does not return)
    """Wait for the marker, then become the command (exec: same pid, signals reach it)."""
    if len(argv) < 3 or argv[1] != "--":
        print("usage: after_init MARKER -- COMMAND...", file=sys.stderr)  # noqa: T201
        return 2
    marker, command = Path(argv[0]), list(argv[2:])
    try:
        wait_until(marker.exists, DEADLINE_SECONDS, "the stack's initialisation")
    except MediaVaultError as error:
        print(f"mediavault: {error}", file=sys.stderr)  # noqa: T201
        return 1
    os.execv(command[0], command)  # noqa: S606  (the stack's own command line)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
