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
    from processing.photos import (
        PREVIEW_LONG_EDGE,
        THUMBNAIL_LONG_EDGE,
        PhotoResult,
        Picture,
        render_photo,
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
    from processing.video import VideoPlan, run_video

# Imported on first use: the photo child imports this package and must start fast.
_HOMES = {
    "AudioStream": "processing.probe",
    "Encoder": "processing.transcode",
    "EncoderChoice": "processing.encoders",
    "EncoderSetting": "processing.encoders",
    "HeartbeatCallback": "processing.runner",
    "PhotoResult": "processing.photos",
    "Picture": "processing.photos",
    "MediaKind": "processing.probe",
    "PREVIEW_LONG_EDGE": "processing.photos",
    "PermanentProcessingError": "processing.errors",
    "Policy": "processing.transcode",
    "Probe": "processing.probe",
    "ProcessingError": "processing.errors",
    "ProcessingTimeout": "processing.errors",
    "ProgressCallback": "processing.runner",
    "RunStats": "processing.runner",
    "THUMBNAIL_LONG_EDGE": "processing.photos",
    "TranscodeAction": "processing.transcode",
    "TranscodeOptions": "processing.transcode",
    "TranscodeResult": "processing.transcode",
    "TransientProcessingError": "processing.errors",
    "VideoStream": "processing.probe",
    "check_announced": "processing.probe",
    "classify": "processing.probe",
    "needs_transcode": "processing.transcode",
    "nvenc_problem": "processing.encoders",
    "output_size_for": "processing.transcode",
    "parse_probe": "processing.probe",
    "render_photo": "processing.photos",
    "probe_file": "processing.probe",
    "run_ffmpeg": "processing.runner",
    "select_encoder": "processing.encoders",
    "run_video": "processing.video",
    "VideoPlan": "processing.video",
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
    "MediaKind",
    "PermanentProcessingError",
    "PhotoResult",
    "Picture",
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
    "VideoPlan",
    "VideoStream",
    "check_announced",
    "classify",
    "needs_transcode",
    "nvenc_problem",
    "output_size_for",
    "parse_probe",
    "probe_file",
    "render_photo",
    "run_ffmpeg",
    "run_video",
    "select_encoder",
    "transcode_action",
    "transcode_args",
]


def __getattr__(name: str) -> Any:
    """The public names, each imported from its module when first asked for."""
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'processing' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)
