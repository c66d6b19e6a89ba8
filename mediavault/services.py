"""The dependencies a function needs (database pool, storage), made once and passed in."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mediavault.config import Settings
    from mediavault.db import Pool
    from mediavault.storage import Storage


@dataclass(frozen=True)
class Services:
    """What handlers talk to. Tests build one over their own real services."""

    settings: Settings
    pool: Pool
    storage: Storage

    @classmethod
    def from_settings(cls, settings: Settings) -> Services:
        """Open a pool (without waiting for the database) and bind the storage clients."""
        from mediavault.db import create_pool
        from mediavault.storage import Storage

        return cls(
            settings=settings,
            pool=create_pool(settings.database),
            storage=Storage.from_settings(settings.storage),
        )

    def close(self) -> None:
        """Release the pool's connections."""
        self.pool.close()


class LazyServices:
    """Services made on first use, so a cold start answers before it pays for connections."""

    def __init__(self, factory: Callable[[], Services]) -> None:
        self._factory = factory
        self._services: Services | None = None
        self._lock = threading.Lock()

    def get(self) -> Services:
        """The services, made by the first caller."""
        if self._services is None:
            with self._lock:
                if self._services is None:
                    self._services = self._factory()
        return self._services
