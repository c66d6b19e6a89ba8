"""MediaVault core: settings, storage, database, events and HTTP helpers for every function."""

from __future__ import annotations

__version__ = "0.1.0"
