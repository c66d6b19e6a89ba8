"""Media processing: probe, classify, thumbnails and previews, HEVC transcodes (pure, on files).

Names are imported from their modules on first use (the photo child imports this package and
must start fast). `transcode` is also a module's name: import it from `processing.transcode`.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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
        transcode_action,
        transcode_args,
    )

# Imported on first use: the photo child imports this package and must start fast.
_HOMES = {
    "AudioStream": "processing.probe",
    "Encoder": "processing.transcode",
    "EncoderChoice": "processing.encoders",
    "EncoderSetting": "processing.encoders",
    "HeartbeatCallback": "processing.runner",
    "ImageResult": "processing.images",
    "MediaKind": "processing.probe",
    "PREVIEW_LONG_EDGE": "processing.images",
    "PermanentProcessingError": "processing.errors",
    "Policy": "processing.transcode",
    "Probe": "processing.probe",
    "ProcessingError": "processing.errors",
    "ProcessingTimeout": "processing.errors",
    "ProgressCallback": "processing.runner",
    "RunStats": "processing.runner",
    "THUMBNAIL_LONG_EDGE": "processing.images",
    "TranscodeAction": "processing.transcode",
    "TranscodeOptions": "processing.transcode",
    "TranscodeResult": "processing.transcode",
    "TransientProcessingError": "processing.errors",
    "VideoStream": "processing.probe",
    "check_announced": "processing.probe",
    "classify": "processing.probe",
    "fit_long_edge": "processing.images",
    "needs_transcode": "processing.transcode",
    "nvenc_problem": "processing.encoders",
    "output_size_for": "processing.transcode",
    "parse_probe": "processing.probe",
    "preview": "processing.images",
    "probe_file": "processing.probe",
    "run_ffmpeg": "processing.runner",
    "select_encoder": "processing.encoders",
    "thumbnail": "processing.images",
    "transcode_action": "processing.transcode",
    "transcode_args": "processing.transcode",
}

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
    "transcode_action",
    "transcode_args",
]


def __getattr__(name: str) -> Any:
    """The public names, each imported from its module when first asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'processing' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
