"""JSON-lines logging with a severity and the current request or job id."""

from __future__ import annotations

import json
import logging
import sys
import time
from contextvars import ContextVar

# A ContextVar is per request/thread by design, not shared mutable state.
correlation_id: ContextVar[str | None] = ContextVar("mediavault_correlation_id", default=None)


class JsonFormatter(logging.Formatter):
    """One JSON object per line, in the field names Cloud/Knative log collectors understand."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "severity": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        current = correlation_id.get()
        if current is not None:
            entry["correlation_id"] = current
        for key in ("function", "route", "status", "job_id", "media_id"):
            value = record.__dict__.get(key)
            if value is not None:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


# Libraries that narrate every request or migration step at INFO.
_CHATTY_LOGGERS = ("httpx", "httpcore", "yoyo", "urllib3")


def configure_logging(level: str = "INFO") -> None:
    """Send every logger's records to stderr as JSON lines (idempotent)."""
    for name in _CHATTY_LOGGERS:
        logging.getLogger(name).setLevel(logging.WARNING)
    root = logging.getLogger()
    for handler in root.handlers:
        if isinstance(handler.formatter, JsonFormatter):
            root.setLevel(level)
            return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root.addHandler(handler)
    root.setLevel(level)
