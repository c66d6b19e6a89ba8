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
from mediavault.db import is_outage
from mediavault.errors import StorageError
from mediavault.logs import correlation_id
from mediavault.mediatypes import served_type
from mediavault.storage import ObjectChanged, ObjectMissing, derived_key, original_key
from processing.capture import from_video_tags
from processing.errors import JobCancelled, PermanentProcessingError, TransientProcessingError
from processing.hdr import mastering_metadata
from processing.inputs import MediaInput
from processing.limits import Limits, Sandbox
from processing.location import Tools, shared_original
from processing.photos import PhotoResult, Picture, encode_thumbnail, render_photo
from processing.probe import Probe, VideoStream, check_announced, classify, probe_file
from processing.scratch import scratch_directory
from processing.transcode import (
    Policy,
    TranscodeAction,
    TranscodeOptions,
    output_size_for,
    plan_for,
    transcode_action,
)
from processing.video import VideoPlan, run_video, web_output

if TYPE_CHECKING:
    from mediavault.config import Settings
    from mediavault.jobs import Claim
    from mediavault.services import Services
    from processing.confinement import Confinement
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

    A heartbeat that finds the media deleted, or its job taken over by another attempt (this
    one was thought dead), raises JobCancelled, which ends the running ffmpeg within one
    heartbeat interval.
    """

    services: Services
    media_id: str
    attempt: int
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
        try:
            with self.services.pool.connection() as conn:
                state = jobs.heartbeat(conn, self.media_id, self.attempt, self.fraction)
        except Exception as error:
            if not is_outage(error):
                raise
            # A database blip must not throw away an encode: carry on, beat again next time.
            logger.warning("heartbeat missed: the database is unavailable")
            return
        if state != "alive":
            raise JobCancelled(gone=state == "gone")


def run_job(
    services: Services,
    claim: Claim,
    encoder: EncoderChoice,
    keep_alive: Callable[[], None] = lambda: None,
    confinement: Confinement | None = None,
) -> JobResult:
    """Process one claimed upload; raise a ProcessingError when it cannot.

    `confinement` is what start-up found the decoders can be confined with (none: unconfined).

    On a permanent failure or a cancellation nothing of the job stays in storage.
    """
    settings = services.settings
    started = time.monotonic()
    token = correlation_id.set(f"media-{claim.media_id}")
    beat = _Progress(
        services, claim.media_id, claim.attempts, settings.processing.heartbeat_seconds, keep_alive
    )
    try:
        with scratch_directory(settings.processing.scratch_dir) as scratch:
            job = _Job(services, claim, encoder, scratch, beat, confinement)
            try:
                return job.run(started)
            except JobCancelled as cancelled:
                if cancelled.gone:
                    job.discard()
                raise
            except PermanentProcessingError:
                # What this attempt stored is removed, unless another attempt took the job
                # over: it writes the same keys, and they are its now.
                if job.holds():
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
    confinement: Confinement | None
    fields: dict[str, Any] = field(default_factory=dict)
    uploads: list[tuple[str, Path, str]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    used_encoder: str | None = None
    encode_fps: float | None = None
    promoted_key: str | None = None
    original_key: str | None = None  # where the checked original is served from
    limits: Limits = field(default_factory=Limits)
    timeout: float = 0.0
    sandbox: Sandbox = field(default_factory=Sandbox)
    photo: PhotoResult | None = None  # HEIF/AVIF: made while checking (no ffprobe reads them)

    @property
    def settings(self) -> Settings:
        return self.services.settings

    def run(self, started: float) -> JobResult:
        self.limits = Limits.from_settings(self.settings.processing, self.confinement)
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
        self.fields.update(_facts(probe, kind, read.size), sha256=read.sha256)
        self.timeout = self.limits.timeout_for(probe)
        self.sandbox = self.limits.sandbox_for(probe)
        if kind == "image":
            self.images(media)
        elif kind == "video":
            self.video(media, probe)
        self.share_original(media, probe)
        bytes_out = self.store()
        self.timings["total"] = time.monotonic() - started
        with self.services.pool.connection() as conn:
            state = jobs.finish_ready(
                conn, self.claim.media_id, self.claim.attempts, self.fields,
                encoder=self.used_encoder, timings=self.timings,
            )  # fmt: skip
        if state == "superseded":
            raise JobCancelled(gone=False)
        kept = state == "alive"
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
        if media.ffmpeg_readable:
            probe = probe_file(
                media, timeout=self.limits.base_seconds, sandbox=self.limits.sandbox_for(None)
            )
        else:
            # Pillow reads these: its sandboxed child checks the header, then decodes.
            self.photo = self.render_photo(media, self.limits.sandbox_for(None))
            probe = _photo_probe(media, self.photo, size)
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
            self.claim.media_id, media.format.extension
        )
        if self.claim.original_key is None:
            assert self.claim.upload_key is not None
            try:
                self.services.storage.promote(self.claim.upload_key, target, etag, content_type)
            except ObjectChanged as error:
                if not self.holds():  # another attempt promoted it already: it is its job now
                    raise JobCancelled(gone=False) from error
                raise PermanentProcessingError(
                    "the file changed while it was being checked; upload it again"
                ) from error
            self.promoted_key = target
        self.original_key = target
        with self.services.pool.connection() as conn:
            jobs.record_original(conn, self.claim.media_id, target, content_type)
        if self.claim.upload_key not in (None, target):
            # Only now: had the record failed, a retry would still find the staged bytes.
            self.services.storage.remove([self.claim.upload_key])
        self.fields["content_type"] = content_type

    def render_photo(self, media: MediaInput, sandbox: Sandbox) -> PhotoResult:
        return render_photo(
            media, self.scratch / "photo", sandbox=sandbox,
            timeout=self.timeout or self.limits.base_seconds, on_heartbeat=self.beat.beat,
            heartbeat_interval=float(self.settings.processing.heartbeat_seconds),
        )  # fmt: skip

    def images(self, media: MediaInput) -> None:
        """Thumbnail and preview (WebP and JPEG), displayed size and capture facts of a photo."""
        clock = time.monotonic()
        photo = self.photo or self.render_photo(media, self.sandbox)
        for name, column in (("thumb", "thumbnail"), ("preview", "preview")):
            self.add_picture(photo.pictures[f"{name}.webp"], f"{column}_key")
            self.add_picture(photo.pictures[f"{name}.jpg"], f"{column}_jpeg_key")
        self.fields.update(width=photo.width, height=photo.height, **photo.capture.columns())
        self.timings["images"] = time.monotonic() - clock

    def add_picture(self, picture: Picture, column: str) -> None:
        self.add_output(picture.path.name, picture.path, picture.content_type, column)

    def video(self, media: MediaInput, probe: Probe) -> None:
        """One ffmpeg run: HEVC (or its copy), web rendition, thumbnail; then their codecs."""
        settings = self.settings.transcode
        max_height = settings.max_height or None
        policy: Policy = settings.policy  # type: ignore[assignment]  # checked by config
        action = transcode_action(probe, policy, max_height=max_height)
        served = str(self.fields["content_type"])
        web = web_output(settings.web_rendition, probe, served)  # type: ignore[arg-type]
        copy = action is TranscodeAction.REMUX
        options = TranscodeOptions(
            encoder=self.encoder.encoder, crf=settings.crf, preset=settings.preset,
            max_height=max_height, copy_video=copy, max_frames=self.limits.max_frames,
        )  # fmt: skip
        plan = VideoPlan(web=web, max_frames=self.limits.max_frames)
        if action is not TranscodeAction.SKIP:
            self.used_encoder = "copy" if copy else self.encoder.encoder
            with self.services.pool.connection() as conn:
                jobs.record_encoder(conn, self.claim.media_id, self.used_encoder)
            mastering: tuple[str | None, str | None] = (None, None)
            if not copy and probe.video is not None and probe.video.hdr == "pq":
                mastering = mastering_metadata(media, sandbox=self.limits.sandbox_for(None))
            plan = plan_for(options, web=plan.web, master_display=mastering[0],
                            max_cll=mastering[1])  # fmt: skip
        sandbox = self.sandbox
        if self.used_encoder == "hevc_nvenc":
            # CUDA reserves a huge address space at start-up: an address-space cap would stop
            # NVENC before it encodes a frame. The Job's memory limit still bounds real use.
            sandbox = replace(sandbox, memory_bytes=None)
        clock = time.monotonic()
        run = run_video(
            media, probe, plan, self.scratch / "video",
            timeout=self.timeout, on_progress=self.beat.progress, on_heartbeat=self.beat.beat,
            heartbeat_interval=float(self.settings.processing.heartbeat_seconds),
            sandbox=sandbox,
        )  # fmt: skip
        self.timings["transcode"] = time.monotonic() - clock
        if run.stats is not None and run.stats.frames and run.stats.wall_seconds > 0:
            self.encode_fps = run.stats.frames / run.stats.wall_seconds
        self.fields.update(original_codecs=probe.codecs, **from_video_tags(probe.tags).columns())
        if run.thumbnail is not None:
            clock = time.monotonic()
            for picture in encode_thumbnail(run.thumbnail, self.scratch / "video").values():
                column = "thumbnail_key" if picture.path.suffix == ".webp" else "thumbnail_jpeg_key"
                self.add_picture(picture, column)
            self.timings["images"] = time.monotonic() - clock
        if run.hevc is not None and probe.video is not None:
            self.add_output("hevc.mp4", run.hevc, "video/mp4", "playback_key")
            width, height = _output_size(probe.video, options)
            self.fields.update(
                playback_size_bytes=run.hevc.stat().st_size, width=width, height=height,
                video_codec="hevc", playback_codecs=self.codecs_of(run.hevc),
            )  # fmt: skip
            if probe.audio is not None and probe.audio.codec != "aac":
                self.fields["audio_codec"] = "aac"
        if run.web is not None:
            self.add_output("web.mp4", run.web, "video/mp4", "web_key")
            self.fields.update(web_size_bytes=run.web.stat().st_size,
                               web_codecs=self.codecs_of(run.web))  # fmt: skip

    def share_original(self, media: MediaInput, probe: Probe) -> None:
        """What share links hand out as the original: itself, or a copy without the place."""
        clock = time.monotonic()
        tools = Tools(self.timeout or self.limits.base_seconds, self.sandbox, self.beat.beat,
                      float(self.settings.processing.heartbeat_seconds))  # fmt: skip
        served = str(self.fields["content_type"])
        found = shared_original(
            media, probe if media.ffmpeg_readable else None, self.scratch / "shared-original",
            served_type=served, tools=tools, known_place=self.fields.get("latitude") is not None,
        )  # fmt: skip
        if found.copy is not None:
            name = f"original-shared{media.format.extension}"
            self.add_output(name, found.copy, served, "shared_original_key")
        else:
            # Unchecked (None): a link that does not include places hands out no original.
            self.fields["shared_original_key"] = self.original_key if found.checked else None
        self.timings["share"] = time.monotonic() - clock

    def codecs_of(self, output: Path) -> str | None:
        """The codecs string of a file this job wrote."""
        return probe_file(MediaInput.open(output), sandbox=self.limits.sandbox_for(None)).codecs

    def add_output(self, name: str, path: Path, content_type: str, column: str) -> None:
        key = derived_key(self.claim.media_id, name)
        self.uploads.append((key, path, content_type))
        self.fields[column] = key

    def store(self) -> int:
        clock = time.monotonic()
        for key, path, content_type in self.uploads:
            upload_output(self.services, key, path, content_type)
        self.timings["upload"] = time.monotonic() - clock
        return sum(path.stat().st_size for _, path, _ in self.uploads)

    def holds(self) -> bool:
        """True while this attempt still holds the media's job."""
        with self.services.pool.connection() as conn:
            return jobs.holds(conn, self.claim.media_id, self.claim.attempts)

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


def _output_size(video: VideoStream, options: TranscodeOptions) -> tuple[int, int]:
    if options.copy_video:
        return video.width, video.height
    return output_size_for(video, options.max_height)


def _photo_probe(media: MediaInput, photo: PhotoResult, size: int) -> Probe:
    """What a probe would say of a photo ffmpeg does not read (as the photo child saw it)."""
    picture = VideoStream(
        index=0, codec=media.format.name, codec_tag="", width=photo.width, height=photo.height,
        rotation=0, frame_rate=None, pix_fmt=None, bit_rate=None, frame_count=photo.frames,
    )  # fmt: skip
    return Probe(format_name=media.format.name, duration_ms=None, size=size, bit_rate=None,
                 video=picture, audio=None)  # fmt: skip


def upload_output(services: Services, key: str, path: Path, content_type: str) -> None:
    """Store a file a job wrote."""
    from minio.error import S3Error

    try:
        services.storage.client.fput_object(services.storage.bucket, key, str(path), content_type)
    except (S3Error, OSError) as error:
        raise TransientProcessingError(f"cannot store {key.rsplit('/', 1)[-1]}: {error}") from error


def refuse(services: Services, claim: Claim, reason: str) -> None:
    """A permanent failure: the file's bytes are deleted and the row says why.

    Only by the attempt that holds the job: one that was thought dead and taken over must not
    delete what the attempt that replaced it has checked.
    """
    with services.pool.connection() as conn:
        if not jobs.holds(conn, claim.media_id, claim.attempts):
            logger.info("not failing a job another attempt holds: %s", reason)
            return
        current = jobs.current(conn, claim.media_id)
    keys = [key for key in (claim.upload_key, current.original_key if current else None) if key]
    removed = True
    try:
        services.storage.remove(keys)
    except (OSError, StorageError) as error:
        logger.warning("could not remove a refused upload's bytes: %s", error)
        removed = False
    with services.pool.connection() as conn:
        jobs.fail(conn, claim.media_id, claim.attempts, reason, removed=removed)


def main(argv: list[str] | None = None) -> int:
    """`python -m processing.job --media-id ID`: run what the worker claimed (Kubernetes mode)."""
    import argparse

    from mediavault.config import load_settings_or_exit
    from mediavault.logs import configure_logging
    from mediavault.services import Services
    from processing.confinement import probe_confinement
    from processing.encoders import select_encoder

    parser = argparse.ArgumentParser(prog="processing.job", description=main.__doc__)
    parser.add_argument("--media-id", required=True)
    args = parser.parse_args(argv)
    settings = load_settings_or_exit(sign_in=False).for_worker()  # a Job signs nobody in
    configure_logging(settings.log_level)
    processing = settings.processing
    confinement = probe_confinement(processing.decoder_uid, processing.decoder_gid)
    services = Services.from_settings(settings)
    try:
        with services.pool.connection() as conn:
            claim = jobs.current(conn, args.media_id)
        if claim is None:
            logger.info("media %s is not waiting for processing; nothing to do", args.media_id)
            return 0
        encoder = select_encoder(settings.transcode.encoder)  # type: ignore[arg-type]
        try:
            run_job(services, claim, encoder, confinement=confinement)
        except JobCancelled as cancelled:
            logger.info("stopped: %s", cancelled.reason)
            return 0
        except PermanentProcessingError as error:
            refuse(services, claim, error.reason)
            return 0  # a permanent failure is recorded; retrying the Job would not help
        except TransientProcessingError as error:
            with services.pool.connection() as conn:
                jobs.release(conn, claim.media_id, claim.attempts, error.reason)
            return 1  # the Job's backoffLimit retries it
        return 0
    finally:
        services.close()


if __name__ == "__main__":
    raise SystemExit(main())
