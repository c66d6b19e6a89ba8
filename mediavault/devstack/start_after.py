"""`python -m mediavault.devstack.start_after (--file PATH | --url URL) -- COMMAND…`."""

# The local stack starts every process at once (its supervisor), but some must come after another:
# worker and reconcile need the tables initialisation creates (the stack writes a file once `init`
# is done), and nsqd must find nsqlookupd listening when it starts (else it retries only 15 s
# later, and a topic created meanwhile logs an ERROR). This waits, then becomes the command.

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from mediavault.devstack.services import url_ok, wait_until
from mediavault.errors import MediaVaultError

DEADLINE_SECONDS = 600.0


def main(argv: Sequence[str]) -> int:  # noqa: RET503  (execv does not return)
    """Wait for the file or URL, then exec the command (same pid: signals reach it)."""
    parser = argparse.ArgumentParser(prog="start_after")
    after = parser.add_mutually_exclusive_group(required=True)
    after.add_argument("--file", type=Path, help="start once this file exists")
    after.add_argument("--url", help="start once a GET of this URL answers 200")
    parser.add_argument("command", nargs="+", help="what to run, after --")
    args = parser.parse_args(argv)
    if args.file is not None:
        ready, what = args.file.exists, f"{args.file} (the stack's initialisation)"
    else:
        ready, what = (lambda: url_ok(args.url)), args.url
    try:
        wait_until(ready, DEADLINE_SECONDS, what)
    except MediaVaultError as error:
        print(f"mediavault: {error}", file=sys.stderr)  # noqa: T201
        return 1
    os.execv(args.command[0], args.command)  # noqa: S606  (the stack's own command line)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
