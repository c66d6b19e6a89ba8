"""One processing job: original → probe → checks → thumbnail/preview → HEVC → MinIO and PostgreSQL.

Run by the worker in-process, or as `python -m processing.job --media-id ID` in a Kubernetes Job.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mediavault import checksums, jobs
from mediavault.errors import StorageError
from mediavault.logs import correlation_id
from mediavault.mediatypes import served_type
from mediavault.storage import ObjectChanged, ObjectMissing, derived_key, original_key
from processing.errors import JobCancelled, PermanentProcessingError, TransientProcessingError
from processing.images import preview, thumbnail
from processing.inputs import MediaInput
from processing.limits import Limits, Sandbox
from processing.probe import Probe, check_announced, classify, probe_file
from processing.scratch import scratch_directory
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
    """Throttled writes of progress and heartbeat, plus the caller's own keep-alive.

    A heartbeat that finds the job's row gone means the media was deleted: it raises
    JobCancelled, which ends the running ffmpeg within one heartbeat interval.
    """

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
            alive = jobs.heartbeat(conn, self.media_id, self.fraction)
        if not alive:
            raise JobCancelled


def run_job(
    services: Services,
    claim: Claim,
    encoder: EncoderChoice,
    keep_alive: Callable[[], None] = lambda: None,
) -> JobResult:
    """Process one claimed upload; raise a ProcessingError when it cannot.

    On a permanent failure or a cancellation nothing of the job stays in storage.
    """
    settings = services.settings
    started = time.monotonic()
    token = correlation_id.set(f"media-{claim.media_id}")
    beat = _Progress(services, claim.media_id, settings.processing.heartbeat_seconds, keep_alive)
    try:
        with scratch_directory(settings.processing.scratch_dir) as scratch:
            job = _Job(services, claim, encoder, scratch, beat)
            try:
                return job.run(started)
            except (PermanentProcessingError, JobCancelled):
                job.discard()
                raise
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
    promoted_key: str | None = None
    limits: Limits = field(default_factory=Limits)
    timeout: float = 0.0
    sandbox: Sandbox = field(default_factory=Sandbox)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def run(self, started: float) -> JobResult:
        self.limits = Limits.from_settings(self.settings.processing)
        source = self.scratch / "original"
        clock = time.monotonic()
        try:
            read = self.services.storage.download(self.claim.source_key, source)
        except ObjectMissing as error:
            raise PermanentProcessingError("the uploaded file is missing from storage") from error
        except (OSError, StorageError) as error:
            raise TransientProcessingError("cannot download the original from storage") from error
        self.timings["download"] = time.monotonic() - clock
        self.beat.beat()
        mismatch = checksums.mismatch(self.claim.announced_sha256, read.sha256)
        if mismatch is not None:
            raise PermanentProcessingError(mismatch)
        media, probe, kind = self.check(source, read.size)
        self.promote(media, kind, read.etag)
        self.fields = {**_facts(probe, kind, read.size), "sha256": read.sha256}
        self.timeout = self.limits.timeout_for(probe)
        self.sandbox = self.limits.sandbox_for(probe)
        if kind in ("video", "image"):
            self.images(media, probe, kind)
        if kind == "video":
            self.video(media, probe)
        bytes_out = self.store()
        self.timings["total"] = time.monotonic() - started
        with self.services.pool.connection() as conn:
            kept = jobs.finish_ready(
                conn, self.claim.media_id, self.fields, self.used_encoder, self.timings
            )
        if not kept:
            # Deleted while we worked: what we wrote must not outlive it.
            self.discard()
            logger.info("media deleted during processing; outputs removed")
        logger.info(
            "ready in %.1fs (%s, encoder %s)", self.timings["total"], kind, self.used_encoder
        )
        return JobResult(
            self.claim.media_id, kind, self.used_encoder, self.claim.size_bytes, bytes_out,
            self.timings["total"], self.encode_fps, gone=not kept,
        )  # fmt: skip

    def check(self, source: Path, size: int) -> tuple[MediaInput, Probe, str]:
        """Everything the bytes must pass before any tool decodes them, and what they are."""
        if size != self.claim.size_bytes:
            raise PermanentProcessingError(
                f"size mismatch: {self.claim.size_bytes} bytes were announced, the file has {size}"
            )
        media = MediaInput.open(source, max_pixels=self.limits.max_pixels)
        probe = probe_file(
            media, timeout=self.limits.base_seconds, sandbox=self.limits.sandbox_for(None)
        )
        self.limits.check(probe)
        check_announced(probe, size, self.claim.size_bytes, self.claim.content_type)
        kind = classify(probe, self.claim.content_type)
        if kind not in media.format.kinds:
            raise PermanentProcessingError(f"a {media.format.name} file cannot hold {kind}")
        return media, probe, kind

    def promote(self, media: MediaInput, kind: str, etag: str) -> None:
        """Move the checked bytes to their served key, with the type they were found to be."""
        content_type = served_type(media.format, self.claim.content_type, kind)
        target = self.claim.original_key or original_key(
            self.claim.owner_id, self.claim.media_id, media.format.extension
        )
        if self.claim.original_key is None:
            assert self.claim.upload_key is not None
            try:
                self.services.storage.promote(self.claim.upload_key, target, etag, content_type)
            except ObjectChanged as error:
                raise PermanentProcessingError(
                    "the file changed while it was being checked; upload it again"
                ) from error
            self.promoted_key = target
        with self.services.pool.connection() as conn:
            jobs.record_original(conn, self.claim.media_id, target, content_type)
        self.fields["content_type"] = content_type

    def images(self, media: MediaInput, probe: Probe, kind: str) -> None:
        clock = time.monotonic()
        thumb = thumbnail(
            media,
            self.scratch / "thumb.jpg",
            probe,
            timeout=self.timeout,
            on_heartbeat=self.beat.beat,
            sandbox=self.sandbox,
        )
        self.add_output("thumb.jpg", thumb.path, "image/jpeg", "thumbnail_key")
        if kind == "image":
            shown = preview(
                media,
                self.scratch / "preview.jpg",
                probe,
                timeout=self.timeout,
                on_heartbeat=self.beat.beat,
                sandbox=self.sandbox,
            )
            self.add_output("preview.jpg", shown.path, "image/jpeg", "preview_key")
        self.timings["images"] = time.monotonic() - clock

    def video(self, media: MediaInput, probe: Probe) -> None:
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
            max_frames=self.limits.max_frames,
        )
        sandbox = self.sandbox
        if self.used_encoder == "hevc_nvenc":
            # CUDA reserves a huge address space at start-up: an address-space cap would stop
            # NVENC before it encodes a frame. The Job's memory limit still bounds real use.
            sandbox = replace(sandbox, memory_bytes=None)
        clock = time.monotonic()
        result = transcode(
            media, self.scratch / "hevc.mp4", probe, options,
            timeout=self.timeout, on_progress=self.beat.progress, on_heartbeat=self.beat.beat,
            heartbeat_interval=float(self.settings.processing.heartbeat_seconds),
            sandbox=sandbox,
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

    def discard(self) -> None:
        """Remove what this job stored or moved: nothing refused or orphaned may stay served."""
        keys = [key for key, _, _ in self.uploads]
        if self.promoted_key is not None:
            keys.append(self.promoted_key)
        if keys:
            try:
                self.services.storage.remove(keys)
            except (OSError, StorageError) as error:
                logger.warning("could not remove this job's objects: %s", error)


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


def _upload(services: Services, key: str, path: Path, content_type: str) -> None:
    from minio.error import S3Error

    try:
        services.storage.client.fput_object(services.storage.bucket, key, str(path), content_type)
    except (S3Error, OSError) as error:
        raise TransientProcessingError(f"cannot store {key.rsplit('/', 1)[-1]}: {error}") from error


def refuse(services: Services, claim: Claim, reason: str) -> None:
    """A permanent failure: the file's bytes are deleted and the row says why."""
    keys = [key for key in (claim.upload_key, claim.original_key) if key]
    removed = True
    try:
        services.storage.remove(keys)
    except (OSError, StorageError) as error:
        logger.warning("could not remove a refused upload's bytes: %s", error)
        removed = False
    with services.pool.connection() as conn:
        jobs.fail(conn, claim.media_id, reason, removed=removed)


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
    settings = load_settings_or_exit(sign_in=False)  # a Job signs nobody in
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
        except JobCancelled:
            logger.info("media deleted during processing; nothing kept")
            return 0
        except PermanentProcessingError as error:
            refuse(services, claim, error.reason)
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
