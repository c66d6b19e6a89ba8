"""The worker's Prometheus metrics: jobs, durations, speed, bytes, encoder, queue depth."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from mediavault.config import QueueSettings
    from processing.encoders import EncoderChoice

logger = logging.getLogger(__name__)

DURATION_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
FPS_BUCKETS = (1, 5, 10, 20, 30, 60, 120, 240, 480)


class WorkerMetrics:
    """Everything the worker reports, in a registry of its own."""

    def __init__(self, queue: QueueSettings) -> None:
        self.registry = CollectorRegistry()
        self.jobs = Counter(
            "mediavault_processing_jobs", "Processing jobs by result and encoder.",
            ("result", "encoder"), registry=self.registry,
        )  # fmt: skip
        self.duration = Histogram(
            "mediavault_processing_job_duration_seconds", "Time from claim to ready, by kind.",
            ("kind",), buckets=DURATION_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.fps = Histogram(
            "mediavault_processing_encode_fps", "Frames per second of HEVC encodes, by encoder.",
            ("encoder",), buckets=FPS_BUCKETS, registry=self.registry,
        )  # fmt: skip
        self.bytes_in = Counter(
            "mediavault_processing_bytes_in",
            "Bytes of originals processed.",
            registry=self.registry,
        )
        self.bytes_out = Counter(
            "mediavault_processing_bytes_out", "Bytes of derived objects written.",
            registry=self.registry,
        )  # fmt: skip
        self.encoder = Gauge(
            "mediavault_processing_encoder_info",
            "The HEVC encoder in use (1), what was asked for, and whether it fell back.",
            ("encoder", "requested", "fallback"), registry=self.registry,
        )  # fmt: skip
        self.registry.register(QueueDepth(queue))

    def encoder_chosen(self, choice: EncoderChoice) -> None:
        """Make the encoder visible, fallback included: never silent."""
        self.encoder.labels(choice.encoder, choice.requested, str(choice.fell_back).lower()).set(1)


class QueueDepth(Collector):
    """Messages waiting on the uploads channel, read from nsqd's /stats at scrape time."""

    def __init__(self, queue: QueueSettings) -> None:
        self.queue = queue

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """One gauge; absent when nsqd does not answer."""
        import httpx

        family = GaugeMetricFamily(
            "mediavault_processing_queue_depth",
            "Messages waiting for the worker (depth + deferred).",
        )
        try:
            stats = httpx.get(
                f"http://{self.queue.nsqd_http_address}/stats",
                params={"format": "json", "topic": self.queue.topic, "channel": self.queue.channel},
                timeout=1.0,
            ).json()
        except (httpx.HTTPError, ValueError) as error:
            logger.debug("nsqd stats unavailable: %s", error)
            return
        for topic in stats.get("topics", []):
            for channel in topic.get("channels", []):
                if channel.get("channel_name") == self.queue.channel:
                    waiting = channel.get("depth", 0) + channel.get("deferred_count", 0)
                    family.add_metric([], float(waiting))
        yield family
