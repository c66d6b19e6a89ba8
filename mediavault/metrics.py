"""Prometheus metrics of one function process, in a registry of its own."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


@dataclass
class HttpMetrics:
    """Request counters and latency histograms labelled by function and route pattern."""

    function: str
    registry: CollectorRegistry = field(init=False)
    requests: Counter = field(init=False)
    latency: Histogram = field(init=False)

    def __post_init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram

        self.registry = CollectorRegistry()
        self.requests = Counter(
            "mediavault_http_requests",
            "HTTP requests handled, by function, route pattern, method and status.",
            ("function", "route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "mediavault_http_request_duration_seconds",
            "Time to answer an HTTP request, by function, route pattern and method.",
            ("function", "route", "method"),
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(self.function, route, method, str(status)).inc()
        self.latency.labels(self.function, route, method).observe(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The registry in Prometheus text format, with its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
