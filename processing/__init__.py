"""Media processing: probe, classify, thumbnails and previews, HEVC transcodes (pure, on files)."""

from __future__ import annotations

from processing.encoders import EncoderChoice, EncoderSetting, nvenc_problem, select_encoder
from processing.errors import (
    PermanentProcessingError,
    ProcessingError,
    ProcessingTimeout,
    TransientProcessingError,
)
from processing.images import (
    PREVIEW_LONG_EDGE,
    THUMBNAIL_LONG_EDGE,
    ImageResult,
    fit_long_edge,
    preview,
    thumbnail,
)
from processing.probe import (
    AudioStream,
    MediaKind,
    Probe,
    VideoStream,
    check_announced,
    classify,
    parse_probe,
    probe_file,
)
from processing.runner import HeartbeatCallback, ProgressCallback, RunStats, run_ffmpeg
from processing.transcode import (
    Encoder,
    Policy,
    TranscodeAction,
    TranscodeOptions,
    TranscodeResult,
    needs_transcode,
    output_size_for,
    transcode,
    transcode_action,
    transcode_args,
)

__all__ = [
    "PREVIEW_LONG_EDGE",
    "THUMBNAIL_LONG_EDGE",
    "AudioStream",
    "Encoder",
    "EncoderChoice",
    "EncoderSetting",
    "HeartbeatCallback",
    "ImageResult",
    "MediaKind",
    "PermanentProcessingError",
    "Policy",
    "Probe",
    "ProcessingError",
    "ProcessingTimeout",
    "ProgressCallback",
    "RunStats",
    "TranscodeAction",
    "TranscodeOptions",
    "TranscodeResult",
    "TransientProcessingError",
    "VideoStream",
    "check_announced",
    "classify",
    "fit_long_edge",
    "needs_transcode",
    "nvenc_problem",
    "output_size_for",
    "parse_probe",
    "preview",
    "probe_file",
    "run_ffmpeg",
    "select_encoder",
    "thumbnail",
    "transcode",
    "transcode_action",
    "transcode_args",
]
