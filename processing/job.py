"""One processing job: original → probe → checks → thumbnail/preview → HEVC → MinIO and PostgreSQL.

Run by the worker in-process, or as `python -m processing.job --media-id ID` in a Kubernetes Job.
"""

from __future__ import annotations

import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediavault import jobs
from mediavault.errors import StorageError
from mediavault.logs import correlation_id
from mediavault.storage import derived_key
from processing.errors import PermanentProcessingError, TransientProcessingError
from processing.images import preview, thumbnail
from processing.probe import Probe, check_announced, classify, probe_file
from processing.transcode import (
    Policy,
    TranscodeAction,
    TranscodeOptions,
    transcode,
    transcode_action,
)

if TYPE_CHECKING:
    from mediavault.config import Settings
    from mediavault.jobs import Claim
    from mediavault.services import Services
    from processing.encoders import EncoderChoice

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobResult:
    """What a finished job did, for metrics and logs."""

    media_id: str
    kind: str
    encoder: str | None
    bytes_in: int
    bytes_out: int
    seconds: float
    encode_fps: float | None
    gone: bool = False  # the media was deleted while it was processed


@dataclass
class _Progress:
    """Throttled writes of progress and heartbeat, plus the caller's own keep-alive."""

    services: Services
    media_id: str
    interval: float
    keep_alive: Callable[[], None]
    last: float = field(default=0.0)
    fraction: float | None = None

    def progress(self, fraction: float) -> None:
        self.fraction = fraction
        if time.monotonic() - self.last >= self.interval:
            self.beat()

    def beat(self) -> None:
        self.last = time.monotonic()
        self.keep_alive()
        with self.services.pool.connection() as conn:
            jobs.heartbeat(conn, self.media_id, self.fraction)


def run_job(
    services: Services,
    claim: Claim,
    encoder: EncoderChoice,
    keep_alive: Callable[[], None] = lambda: None,
) -> JobResult:
    """Process one claimed upload; raise Permanent/TransientProcessingError when it cannot."""
    settings = services.settings
    started = time.monotonic()
    token = correlation_id.set(f"media-{claim.media_id}")
    beat = _Progress(services, claim.media_id, settings.processing.heartbeat_seconds, keep_alive)
    try:
        with tempfile.TemporaryDirectory(prefix="mediavault-job-") as scratch:
            return _Job(services, claim, encoder, Path(scratch), beat).run(started)
    finally:
        correlation_id.reset(token)


@dataclass
class _Job:
    """The steps of one job over a scratch directory; outputs are stored only at the end."""

    services: Services
    claim: Claim
    encoder: EncoderChoice
    scratch: Path
    beat: _Progress
    fields: dict[str, Any] = field(default_factory=dict)
    uploads: list[tuple[str, Path, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    used_encoder: str | None = None
    encode_fps: float | None = None

    @property
    def settings(self) -> Settings:
        return self.services.settings

    @property
    def timeout(self) -> float:
        return float(self.settings.processing.job_timeout_seconds)

    def run(self, started: float) -> JobResult:
        source = self.scratch / "original"
        clock = time.monotonic()
        _download(self.services, self.claim.original_key, source)
        self.timings["download"] = time.monotonic() - clock
        self.beat.beat()
        probe = probe_file(source)
        check_announced(
            probe, source.stat().st_size, self.claim.size_bytes, self.claim.content_type
        )
        kind = classify(probe, self.claim.content_type)
        self.fields = _facts(probe, kind, source.stat().st_size)
        if kind in ("video", "image"):
            self.images(source, probe, kind)
        if kind == "video":
            self.video(source, probe)
        bytes_out = self.store()
        self.timings["total"] = time.monotonic() - started
        with self.services.pool.connection() as conn:
            kept = jobs.finish_ready(
                conn, self.claim.media_id, self.fields, self.used_encoder, self.timings
            )
        if not kept:
            # Deleted while we worked: what we wrote must not outlive it.
            self.services.storage.remove([key for key, _, _ in self.uploads])
            logger.info("media deleted during processing; outputs removed")
        logger.info(
            "ready in %.1fs (%s, encoder %s)", self.timings["total"], kind, self.used_encoder
        )
        return JobResult(
            self.claim.media_id, kind, self.used_encoder, self.claim.size_bytes, bytes_out,
            self.timings["total"], self.encode_fps, gone=not kept,
        )  # fmt: skip

    def images(self, source: Path, probe: Probe, kind: str) -> None:
        clock = time.monotonic()
        thumb = thumbnail(
            source,
            self.scratch / "thumb.jpg",
            probe,
            timeout=self.timeout,
            on_heartbeat=self.beat.beat,
        )
        self.add_output("thumb.jpg", thumb.path, "image/jpeg", "thumbnail_key")
        if kind == "image":
            shown = preview(
                source,
                self.scratch / "preview.jpg",
                probe,
                timeout=self.timeout,
                on_heartbeat=self.beat.beat,
            )
            self.add_output("preview.jpg", shown.path, "image/jpeg", "preview_key")
        self.timings["images"] = time.monotonic() - clock

    def video(self, source: Path, probe: Probe) -> None:
        transcode_settings = self.settings.transcode
        max_height = transcode_settings.max_height or None
        policy: Policy = transcode_settings.policy  # type: ignore[assignment]  # checked by config
        action = transcode_action(probe, policy, max_height=max_height)
        if action is TranscodeAction.SKIP:
            return
        copy = action is TranscodeAction.REMUX
        self.used_encoder = "copy" if copy else self.encoder.encoder
        with self.services.pool.connection() as conn:
            jobs.record_encoder(conn, self.claim.media_id, self.used_encoder)
        options = TranscodeOptions(
            encoder=self.encoder.encoder,
            crf=transcode_settings.crf,
            preset=transcode_settings.preset,
            max_height=max_height,
            copy_video=copy,
        )
        clock = time.monotonic()
        result = transcode(
            source, self.scratch / "hevc.mp4", probe, options,
            timeout=self.timeout, on_progress=self.beat.progress, on_heartbeat=self.beat.beat,
            heartbeat_interval=float(self.settings.processing.heartbeat_seconds),
        )  # fmt: skip
        self.timings["transcode"] = time.monotonic() - clock
        self.encode_fps = result.encode_fps
        self.add_output("hevc.mp4", result.path, "video/mp4", "playback_key")
        self.fields.update(playback_size_bytes=result.output_size, width=result.width,
                           height=result.height, video_codec="hevc")  # fmt: skip
        if not result.audio_copied and probe.audio is not None:
            self.fields["audio_codec"] = "aac"

    def add_output(self, name: str, path: Path, content_type: str, column: str) -> None:
        key = derived_key(self.claim.owner_id, self.claim.media_id, name)
        self.uploads.append((key, path, content_type))
        self.fields[column] = key

    def store(self) -> int:
        clock = time.monotonic()
        for key, path, content_type in self.uploads:
            _upload(self.services, key, path, content_type)
        self.timings["upload"] = time.monotonic() - clock
        return sum(path.stat().st_size for _, path, _ in self.uploads)


def _facts(probe: Probe, kind: str, size: int) -> dict[str, Any]:
    """What the probe says about the original, in media's columns."""
    video, audio = probe.video, probe.audio
    return {
        "kind": kind,
        "width": video.width if video else None,
        "height": video.height if video else None,
        "duration_ms": probe.duration_ms,
        "video_codec": video.codec if video and kind == "video" else None,
        "audio_codec": audio.codec if audio else None,
        "video_bitrate": video.bit_rate if video else None,
        "audio_bitrate": audio.bit_rate if audio else None,
        "frame_rate": video.fps if video and kind == "video" else None,
        "original_size_bytes": size,
    }


def _download(services: Services, key: str, target: Path) -> None:
    from minio.error import S3Error

    try:
        services.storage.client.fget_object(services.storage.bucket, key, str(target))
    except S3Error as error:
        if error.code in ("NoSuchKey", "NoSuchObject"):
            raise PermanentProcessingError("the uploaded file is missing from storage") from error
        raise TransientProcessingError(f"cannot download the original: {error.code}") from error
    except (OSError, StorageError) as error:
        raise TransientProcessingError(f"cannot download the original: {error}") from error


def _upload(services: Services, key: str, path: Path, content_type: str) -> None:
    from minio.error import S3Error

    try:
        services.storage.client.fput_object(services.storage.bucket, key, str(path), content_type)
    except (S3Error, OSError) as error:
        raise TransientProcessingError(f"cannot store {key.rsplit('/', 1)[-1]}: {error}") from error


def main(argv: list[str] | None = None) -> int:
    """`python -m processing.job --media-id ID`: run what the worker claimed (Kubernetes mode)."""
    import argparse

    from mediavault.config import load_settings_or_exit
    from mediavault.logs import configure_logging
    from mediavault.services import Services
    from processing.encoders import select_encoder

    parser = argparse.ArgumentParser(prog="processing.job", description=main.__doc__)
    parser.add_argument("--media-id", required=True)
    args = parser.parse_args(argv)
    settings = load_settings_or_exit()
    configure_logging(settings.log_level)
    services = Services.from_settings(settings)
    try:
        with services.pool.connection() as conn:
            claim = jobs.current(conn, args.media_id)
        if claim is None:
            logger.info("media %s is not waiting for processing; nothing to do", args.media_id)
            return 0
        encoder = select_encoder(settings.transcode.encoder)  # type: ignore[arg-type]
        try:
            run_job(services, claim, encoder)
        except PermanentProcessingError as error:
            with services.pool.connection() as conn:
                jobs.fail(conn, claim.media_id, error.reason)
            return 0  # a permanent failure is recorded; retrying the Job would not help
        except TransientProcessingError as error:
            with services.pool.connection() as conn:
                jobs.release(conn, claim.media_id, error.reason)
            return 1  # the Job's backoffLimit retries it
        return 0
    finally:
        services.close()


if __name__ == "__main__":
    raise SystemExit(main())
