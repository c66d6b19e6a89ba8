"""`mediavault worker`: reads MinIO's upload events from NSQ and gets each upload processed.

pynsq runs on tornado's IOLoop; jobs run on a thread pool (ffmpeg blocks), and every response
to nsqd (touch, finish, requeue) is handed back to the loop, which owns the connection.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from mediavault import jobs
from mediavault.db import is_outage
from mediavault.errors import EventError, StorageError
from mediavault.events import parse_event_message
from mediavault.storage import ORIGINALS_PREFIX, UPLOADS_PREFIX
from processing.errors import (
    JobCancelled,
    PermanentProcessingError,
    ProcessingError,
    TransientProcessingError,
)
from processing.job import refuse, run_job
from processing.metrics import WorkerMetrics

if TYPE_CHECKING:
    from mediavault.jobs import Claim
    from mediavault.services import Services
    from processing.confinement import Confinement
    from processing.encoders import EncoderChoice
    from processing.kube_dispatch import KubernetesDispatcher

logger = logging.getLogger(__name__)

MAX_REQUEUE_DELAY_SECONDS = 600
OUTAGE_REQUEUE_DELAY_SECONDS = 10
# Uploads arrive under uploads/ (MinIO's events); retries and reconcile name checked originals.
_OUR_PREFIXES = (UPLOADS_PREFIX, ORIGINALS_PREFIX)
# An owner at their share of running jobs: look again after this long.
FAIR_SHARE_DELAY_SECONDS = 5


def requeue_delay(attempts: int) -> int:
    """Exponential backoff for transient failures: 10 s, 20 s, 40 s … at most 10 minutes."""
    return int(min(MAX_REQUEUE_DELAY_SECONDS, 10 * 2 ** max(0, attempts - 1)))


class Worker:
    """The NSQ consumer: claim each upload once, run or dispatch its job, answer nsqd."""

    def __init__(
        self,
        services: Services,
        encoder: EncoderChoice,
        metrics: WorkerMetrics,
        dispatcher: KubernetesDispatcher | None = None,
        confinement: Confinement | None = None,
    ) -> None:
        self.services = services
        self.confinement = confinement  # probed at start; jobs here confine their decoders with it
        self.settings = services.settings
        self.encoder = encoder
        self.metrics = metrics
        # Kubernetes mode: a Job per media instead of running it here.
        self.dispatcher = dispatcher
        self.dispatch = (lambda claim: dispatcher.dispatch(claim.media_id)) if dispatcher else None
        self._failures_seen: dict[str, None] = {}  # uids of failed Jobs already handled
        self.pool = ThreadPoolExecutor(
            max_workers=self.settings.processing.concurrency, thread_name_prefix="job"
        )
        self.loop: Any = None
        self.reader: Any = None

    def start(self) -> None:
        """Subscribe to the uploads topic on the current IOLoop."""
        import nsq
        import tornado.ioloop

        self.loop = tornado.ioloop.IOLoop.current()
        queue = self.settings.queue
        self.reader = nsq.Reader(
            topic=queue.topic,
            channel=queue.channel,
            nsqd_tcp_addresses=[queue.nsqd_tcp_address],
            message_handler=self.handle,
            max_in_flight=self.settings.processing.concurrency,
            msg_timeout=self.settings.processing.msg_timeout_seconds,
            max_tries=0,  # attempts are counted in PostgreSQL, per media, not per message
        )

    def stop(self) -> None:
        """Stop taking messages; jobs in flight are redelivered after the message timeout."""
        if self.reader is not None:
            self.reader.close()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def handle(self, message: Any) -> None:
        """A message from nsqd: parse it here, process it on the pool."""
        message.enable_async()
        try:
            records = parse_event_message(message.body)
        except EventError as error:
            logger.warning("dropping a message that is not a MinIO event: %s", error)
            message.finish()
            return
        bucket = self.services.storage.bucket
        keys = [r.key for r in records if r.bucket == bucket and r.key.startswith(_OUR_PREFIXES)]
        if not keys:
            message.finish()
            return
        self.pool.submit(self._process_message, message, keys)

    def _respond(self, message: Any, action: str, delay: int = 0) -> None:
        """Answer nsqd from the IOLoop thread (pynsq is not thread-safe)."""

        def respond() -> None:
            if message.has_responded():
                return
            if action == "touch":
                message.touch()
            elif action == "requeue":
                message.requeue(delay=delay, backoff=False)
            else:
                message.finish()

        self.loop.add_callback(respond)

    def _process_message(self, message: Any, keys: list[str]) -> None:
        delay = None
        for key in keys:
            try:
                outcome = self.process_key(key, lambda: self._respond(message, "touch"))
            except Exception as error:  # never lose the message: retry it later
                if is_outage(error):  # PostgreSQL is away: look again soon
                    logger.warning("database unavailable; %s requeued", key)
                    outcome = OUTAGE_REQUEUE_DELAY_SECONDS
                else:
                    logger.exception("processing %s failed unexpectedly", key)
                    outcome = MAX_REQUEUE_DELAY_SECONDS
            if outcome is not None:
                delay = max(delay or 0, outcome)
        if delay is None:
            self._respond(message, "finish")
        else:
            self._respond(message, "requeue", delay)

    def process_key(self, key: str, keep_alive: Any) -> int | None:
        """Claim and process one upload; a requeue delay in seconds, or None when done."""
        processing = self.settings.processing
        with self.services.pool.connection() as conn:
            # Jobs that run here are ours to take back after a crash; Kubernetes Jobs are not.
            owner = processing.worker_id if self.dispatch is None else None
            claim = jobs.claim(
                conn, key, processing.stale_after_seconds, processing.max_jobs_per_owner, owner
            )
            state = jobs.unclaimed(conn, key, processing.stale_after_seconds) if not claim else None
        if claim is None:
            return self._unclaimed(key, state)
        if self.dispatch is not None:
            try:
                self.dispatch(claim)
            except PermanentProcessingError as error:  # the cluster refused the Job itself
                self._failed(claim, error.reason, "rejected")
            except TransientProcessingError as error:
                return self._transient(claim, error.reason)
            return None
        return self.run_claimed(claim, keep_alive)

    def _unclaimed(self, key: str, state: jobs.Unclaimed | None) -> int | None:
        """A key no job could take now: drop it, clear a stray object, or look again later."""
        if state == "running":
            # Another worker has it; should that one die, this redelivery takes the job over
            # once its heartbeat is stale. Never dropped while the media is not final.
            return self.settings.processing.stale_after_seconds
        if state == "waiting":
            return FAIR_SHARE_DELAY_SECONDS
        if key.startswith(UPLOADS_PREFIX):
            # Bytes PUT again on a still valid URL after the upload was checked, refused or
            # deleted: nothing will ever read them.
            self.services.storage.remove([key])
            logger.info("removed a stray upload (%s media)", state)
        else:
            logger.info("duplicate event for a finished media; dropped")
        return None

    def run_claimed(self, claim: Claim, keep_alive: Any) -> int | None:
        """Run the job in this thread and record how it ended."""
        try:
            result = run_job(self.services, claim, self.encoder, keep_alive, self.confinement)
        except JobCancelled as cancelled:
            logger.info("stopped: %s", cancelled.reason, extra={"media_id": claim.media_id})
            self.metrics.jobs.labels("cancelled", self.encoder.encoder).inc()
            return None
        except PermanentProcessingError as error:
            self._failed(claim, error.reason, "failed", refused=True)
            return None
        except (ProcessingError, StorageError, OSError) as error:
            reason = getattr(error, "reason", None) or str(error)
            return self._transient(claim, reason)
        except Exception as error:
            if type(error).__module__.startswith("psycopg"):  # the database blinked
                return self._transient(claim, f"database error: {type(error).__name__}")
            raise
        self.metrics.jobs.labels("ready", result.encoder or "none").inc()
        self.metrics.duration.labels(result.kind).observe(result.seconds)
        if result.encode_fps and result.encoder not in (None, "copy"):
            self.metrics.fps.labels(result.encoder).observe(result.encode_fps)
        self.metrics.bytes_in.inc(result.bytes_in)
        self.metrics.bytes_out.inc(result.bytes_out)
        return None

    def check_failed_jobs(self) -> None:
        """Notice Jobs the cluster gave up on (OOMKilled, evicted, past deadline) from their status.

        Such a Job recorded nothing itself: its media is released and queued again (or failed
        after its last attempt), without waiting for the reconcile pass.
        """
        from mediavault.reconcile import enqueue

        assert self.dispatcher is not None
        for failed in self.dispatcher.failed_jobs():
            if failed.uid in self._failures_seen:
                continue
            self._failures_seen[failed.uid] = None
            while len(self._failures_seen) > 10_000:
                self._failures_seen.pop(next(iter(self._failures_seen)))
            with self.services.pool.connection() as conn:
                claim = jobs.current(conn, failed.media_id)
            if claim is None:
                continue  # the media is final or gone: nothing to do
            delay = self._transient(claim, f"the transcode Job failed: {failed.reason}")
            if delay is not None:
                row = {"source_key": claim.source_key, "size_bytes": claim.size_bytes}
                enqueue(self.settings.queue, self.services.storage.bucket, row, delay)

    def _transient(self, claim: Claim, reason: str) -> int | None:
        if claim.attempts >= self.settings.processing.max_attempts:
            self._failed(claim, f"gave up after {claim.attempts} attempts: {reason}", "gave_up")
            return None
        logger.warning("attempt %d failed, will retry: %s", claim.attempts, reason,
                       extra={"media_id": claim.media_id})  # fmt: skip
        with self.services.pool.connection() as conn:
            jobs.release(conn, claim.media_id, claim.attempts, reason)
        self.metrics.jobs.labels("retry", self.encoder.encoder).inc()
        return requeue_delay(claim.attempts)

    def _failed(self, claim: Claim, reason: str, result: str, *, refused: bool = False) -> None:
        """The media failed for good; a refused file also loses its bytes."""
        logger.warning("failed: %s", reason, extra={"media_id": claim.media_id})
        if refused:
            refuse(self.services, claim, reason)
        else:
            with self.services.pool.connection() as conn:
                jobs.fail(conn, claim.media_id, claim.attempts, reason, removed=False)
        self.metrics.jobs.labels(result, self.encoder.encoder).inc()


FAILED_JOB_CHECK_SECONDS = 15


def watch_failed_jobs(worker: Worker) -> None:
    """Every few seconds, off the IOLoop, look for transcode Jobs that failed."""
    import tornado.ioloop

    def check() -> None:
        try:
            worker.check_failed_jobs()
        except Exception:  # the API server or the database blinked: the next check retries
            logger.exception("checking for failed transcode Jobs")

    def schedule() -> None:
        worker.pool.submit(check)

    tornado.ioloop.PeriodicCallback(schedule, FAILED_JOB_CHECK_SECONDS * 1000).start()


def take_back_jobs(services: Services) -> None:
    """Re-enqueue the jobs this worker had when it was killed, without waiting for staleness."""
    from mediavault.errors import MediaVaultError
    from mediavault.reconcile import enqueue

    settings = services.settings
    try:
        with services.pool.connection() as conn:
            rows = jobs.take_back(conn, settings.processing.worker_id)
    except Exception as error:  # no database yet, or not migrated yet: nothing to take back
        logger.warning("could not look for jobs to take back: %s", type(error).__name__)
        return
    for row in rows:
        try:
            enqueue(settings.queue, services.storage.bucket, row)
        except MediaVaultError as error:  # nsqd down: the reconcile pass will publish it
            logger.warning("could not re-enqueue a job taken back: %s", error)
        logger.info("took back a job of the previous worker", extra={"media_id": str(row["id"])})


def serve_health(worker: Worker) -> Any:
    """/healthz (PostgreSQL and MinIO) and /metrics on the worker's port, on the same IOLoop."""
    import tornado.web
    from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

    from mediavault.db import ping

    def check() -> dict[str, str]:
        checks = {}
        probes: dict[str, Callable[[], None]] = {
            "postgres": lambda: ping(worker.services.pool),
            "minio": worker.services.storage.ping,
        }
        for name, probe in probes.items():
            try:
                probe()
                checks[name] = "ok"
            except Exception as error:
                checks[name] = f"down: {type(error).__name__}"
        return checks

    class Health(tornado.web.RequestHandler):
        async def get(self) -> None:
            checks = await asyncio.get_running_loop().run_in_executor(None, check)
            healthy = all(state == "ok" for state in checks.values())
            self.set_status(200 if healthy else 503)
            self.finish({"status": "ok" if healthy else "unavailable", "checks": checks,
                         "encoder": worker.encoder.encoder})  # fmt: skip

    class Metrics(tornado.web.RequestHandler):
        def get(self) -> None:
            self.set_header("Content-Type", CONTENT_TYPE_LATEST)
            self.finish(generate_latest(worker.metrics.registry))

    app = tornado.web.Application([("/healthz", Health), ("/metrics", Metrics)])
    processing = worker.settings.processing
    return app.listen(processing.port, address=processing.host)


def run_worker(services: Services) -> int:
    """Choose the encoder (never silently), subscribe, serve health, run until SIGTERM/SIGINT."""
    import tornado.ioloop

    from processing.encoders import EncoderChoice, select_encoder
    from processing.scratch import remove_orphans

    settings = services.settings
    if settings.processing.executor == "kubernetes":
        # Each Job picks (and records) its own encoder on its own node; testing NVENC here, on a
        # CPU-only worker pod, would only report a misleading fallback.
        encoder = EncoderChoice(encoder="libx265", requested=settings.transcode.encoder)  # type: ignore[arg-type]
    else:
        encoder = select_encoder(settings.transcode.encoder)  # type: ignore[arg-type]
    if encoder.fell_back:
        logger.warning("HEVC encoder: %s (asked for %s: %s)", encoder.encoder,
                       encoder.requested, encoder.fallback_reason)  # fmt: skip
    remove_orphans(settings.processing.scratch_dir)
    confinement = None
    if settings.processing.executor == "local":
        from processing.confinement import probe_confinement

        # Once: each protection the platform refuses is logged here, with why.
        processing = settings.processing
        confinement = probe_confinement(processing.decoder_uid, processing.decoder_gid)
        take_back_jobs(services)
    metrics = WorkerMetrics(settings.queue)
    if settings.processing.executor == "local":
        metrics.encoder_chosen(encoder)
    dispatcher = None
    if settings.processing.executor == "kubernetes":
        from processing.kube_dispatch import kubernetes_dispatcher

        dispatcher = kubernetes_dispatcher(settings.processing)
    asyncio.set_event_loop(asyncio.new_event_loop())
    loop = tornado.ioloop.IOLoop.current()
    worker = Worker(services, encoder, metrics, dispatcher, confinement)
    worker.start()
    if dispatcher is not None:
        watch_failed_jobs(worker)
    server = serve_health(worker)

    def shutdown(signum: int, _frame: object) -> None:
        logger.info("signal %d: stopping", signum)
        loop.add_callback_from_signal(loop.stop)

    signal.signal(signal.SIGTERM, shutdown)
    signal.signal(signal.SIGINT, shutdown)
    logger.info("worker ready: topic %s, encoder %s, executor %s", settings.queue.topic,
                encoder.encoder, settings.processing.executor)  # fmt: skip
    loop.start()
    server.stop()
    worker.stop()
    return 0
