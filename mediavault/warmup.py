"""First imports of what a process imports lazily: once, in one thread, before requests use them."""

# Handlers import heavy modules on first use so that a cold start answers quickly. Python 3.11's
# import locks do not make concurrent first imports safe: a thread that imports a submodule
# (`from minio.error import S3Error`) while another is still running its package's `__init__`
# does not wait for it (CPython gh-83065, fixed in 3.15). The circular imports inside urllib3 and
# minio then give `ImportError: … partially initialized module 'urllib3.response'`, and a module
# that kept a reference to a package whose import failed keeps that dead module for good
# (gh-143650: minio's `urllib3.PoolManager` gone). So a function imports its lazy modules in one
# background thread, started by its first request (after the server's fork), and until they are
# in, its handlers take turns with that thread; tests/test_warmup.py holds the lists below to
# everything the code imports.

from __future__ import annotations

import importlib
import logging
import sys
import threading
import time
import warnings
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType

from mediavault.errors import ServiceUnavailable

logger = logging.getLogger(__name__)

# What a request may import, by what it needs. Submodules are named: importing a package
# does not import every one of them. The codecs: every connection encodes its host name with
# idna; S3's XML is read as ascii.
DATABASE = (
    "encodings.idna", "psycopg", "psycopg.conninfo", "psycopg.rows", "psycopg.sql",
    "psycopg_pool", "mediavault.db", "mediavault.auth", "mediavault.users", "mediavault.tokens",
)  # fmt: skip
STORAGE = (
    "encodings.ascii", "urllib3", "minio", "minio.commonconfig", "minio.datatypes",
    "minio.deleteobjects", "minio.error", "minio.helpers", "minio.notificationconfig",
    "xml.etree.ElementTree", "mediavault.storage", "mediavault.s3http", "mediavault.sigv4",
    "mediavault.multipart", "mediavault.downloads", "mediavault.renditions",
)  # fmt: skip
BODIES = ("msgspec", "mediavault.schemas", "mediavault.pagination", "mediavault.text")
QUEUE = ("httpx", "mediavault.queue")
MEDIA = ("mediavault.media", "mediavault.mediatypes")
# The database first: every request of the API signs its caller in with it.
API = (*DATABASE, *BODIES, *MEDIA, *STORAGE)

# A request waits at most this long for its turn; past it the process is taken for broken.
WAIT_SECONDS = 30.0


class Warmup:
    """A process's lazy imports, made in one thread; until they are in, requests take turns."""

    # Until every module is in, one thread at a time imports: the importer, one module per turn,
    # or a request, for its whole handler (which imports what it needs itself, alone). Turns
    # go first come, first served, so a first request waits for one module, not for them all.

    def __init__(self, modules: tuple[str, ...]) -> None:
        self.modules = modules
        self._lock = threading.Lock()
        self._started_at: float | None = None
        self._turns = _Turns()
        self._done = threading.Event()
        self._failure: str | None = None
        self._imported: dict[str, ModuleType] = {}

    def start(self) -> None:
        """Begin the imports in a thread of their own (once; later calls return at once)."""
        with self._lock:
            if self._started_at is not None:
                return
            self._started_at = time.monotonic()
        threading.Thread(target=self._run, name="mediavault-warmup", daemon=True).start()

    def _run(self) -> None:
        try:
            for name in self.modules:
                self._turns.acquire(None)
                try:
                    self._imported[name] = _import(name)
                finally:
                    self._turns.release()
        except Exception as error:  # recorded: /healthz says this process cannot serve
            self._failure = f"{type(error).__name__}: {error}"
            logger.exception("the first imports failed; this process cannot serve")
        finally:
            self._done.set()
            self._turns.open()

    @contextmanager
    def turn(self, timeout: float = WAIT_SECONDS) -> Iterator[None]:
        """A request's handler runs in this block: alone while the imports are not all in."""
        if not self._done.is_set():
            self.start()
            if not self._turns.acquire(timeout):
                raise ServiceUnavailable("this function is still starting; retry")
            try:
                self._refuse_if_broken()
                yield
            finally:
                self._turns.release()
            return
        self._refuse_if_broken()
        yield

    def _refuse_if_broken(self) -> None:
        if self._failure is not None:
            raise ServiceUnavailable("this function cannot serve; retry")

    @property
    def waiting(self) -> int:
        """How many requests wait for their turn now."""
        return self._turns.waiting()

    def join(self, timeout: float) -> bool:
        """True once every import ended (well or not) within the timeout."""
        return self._done.wait(timeout)

    def problem(self) -> str | None:
        """Why this process cannot serve (an import failed, hangs, left a dead module), or None."""
        if self._failure is not None:
            return self._failure
        started = self._started_at
        if not self._done.is_set():
            if started is not None and time.monotonic() - started > WAIT_SECONDS:
                return f"imports unfinished after {WAIT_SECONDS:.0f} s"
            return None
        for name, module in list(self._imported.items()):
            if sys.modules.get(name) is not module:
                return f"{name} was unloaded"
        # A few ms over the packages it imported: cheap enough for every readiness probe.
        stale = stale_references({name.partition(".")[0] for name in self.modules})
        return f"{stale[0]} refers to a module whose import failed" if stale else None


class _Turns:
    """A lock handed over in arrival order, that lets everyone through once opened."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting: deque[threading.Event] = deque()
        self._held = False
        self._open = False

    def acquire(self, timeout: float | None) -> bool:
        """True once it is the caller's turn (or the gate is open); False past the timeout."""
        with self._lock:
            if self._open:
                return True
            if not self._held:
                self._held = True
                return True
            mine = threading.Event()
            self._waiting.append(mine)
        if mine.wait(timeout):
            return True
        with self._lock:
            if mine.is_set():  # handed over just as the wait ended
                return True
            self._waiting.remove(mine)
            return False

    def waiting(self) -> int:
        """How many wait in line."""
        with self._lock:
            return len(self._waiting)

    def release(self) -> None:
        """Hand the turn to the next in line, if any."""
        with self._lock:
            if self._open:
                return
            if self._waiting:
                self._waiting.popleft().set()
            else:
                self._held = False

    def open(self) -> None:
        """Let everyone through from now on, those in line too."""
        with self._lock:
            self._open = True
            while self._waiting:
                self._waiting.popleft().set()


def import_all(modules: tuple[str, ...]) -> None:
    """Import each module in this thread, before any other starts (a worker at its start)."""
    for name in modules:
        _import(name)


def _import(name: str) -> ModuleType:
    # A deprecation a library announces as it is imported speaks to its users' code: the
    # versions are pinned and tested, and no log needs it at every cold start. (No other
    # thread imports meanwhile, so changing the process's warning filters here is safe.)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return importlib.import_module(name)


def stale_references(packages: set[str]) -> list[str]:
    """`module.name` of modules in these packages that hold a module no longer imported."""
    # What a failed concurrent import leaves behind: the failed module was removed from
    # sys.modules, but a module that imported it meanwhile keeps the half-made one.
    loaded = {id(module) for module in list(sys.modules.values())}
    found = []
    for name, module in list(sys.modules.items()):
        if name.partition(".")[0] not in packages or module is None:
            continue
        for attribute, value in list(vars(module).items()):
            if isinstance(value, ModuleType) and id(value) not in loaded:
                found.append(f"{name}.{attribute}")
    return found
