"""One local stack per data directory and per set of ports: say so plainly when one runs."""

from __future__ import annotations

import errno
import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mediavault.errors import MediaVaultError

if TYPE_CHECKING:
    from mediavault.devstack.layout import StackLayout

LOCK_FILE = "dev.lock"


@contextmanager
def only_stack(layout: StackLayout) -> Iterator[None]:
    """Hold `.dev/dev.lock` while the stack runs; refuse to start beside another stack."""
    # An flock is released by the kernel when the process ends, however it ends: a stale file
    # never blocks a start. Ports are checked too: the processes of a stack whose `mediavault
    # dev` was killed outright, or of another clone, hold them without the lock.
    layout.data_dir.mkdir(parents=True, exist_ok=True)
    lock_path = layout.data_dir / LOCK_FILE
    with lock_path.open("a+") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "unknown"
            raise MediaVaultError(
                f"a local stack is already running from {layout.data_dir} (pid {holder}): "
                "use it, or stop it (Ctrl-C in its terminal) before starting another"
            ) from None
        busy = [f"{what} {host}:{port}" for what, (host, port) in layout.ports().items()
                if in_use(host, port)]  # fmt: skip
        if busy:
            raise MediaVaultError(
                "these ports are in use, by another local stack (from another clone, or one "
                "whose `mediavault dev` was killed) or another program: "
                + ", ".join(busy)
                + ". Stop it, or give this stack other ports (README: Configuration)"
            )
        lock.seek(0)
        lock.truncate()
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        yield


def in_use(host: str, port: int) -> bool:
    """True when something listens on host:port (binding as a server would, SO_REUSEADDR)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as error:
            return error.errno == errno.EADDRINUSE
    return False
