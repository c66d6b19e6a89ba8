"""Errors of the processing library, under MediaVault's one exception tree.

MediaVaultError
└── ProcessingError                 something went wrong while processing a media file
    ├── PermanentProcessingError    the input itself is at fault: mark the media failed at once
    ├── TransientProcessingError    the machine, not the file: retry with backoff
    │   └── ProcessingTimeout       ffmpeg/ffprobe ran past its wall-clock limit and was killed
    └── JobCancelled                the media was deleted (keep nothing) or another attempt took
                                    the job over (leave its work alone): stop
"""

from __future__ import annotations

from mediavault.errors import MediaVaultError


class ProcessingError(MediaVaultError):
    """Processing a media file failed; the message is readable by the uploader."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PermanentProcessingError(ProcessingError):
    """The input cannot be processed, however often we try (undecodable, mismatched)."""


class TransientProcessingError(ProcessingError):
    """A failure of the machine or a resource that a retry may not meet again."""


class ProcessingTimeout(TransientProcessingError):
    """A tool ran past its time limit; its whole process group was killed."""

    def __init__(self, reason: str, *, pid: int, timeout: float) -> None:
        super().__init__(reason)
        self.pid = pid
        self.timeout = timeout


class JobCancelled(ProcessingError):
    """This attempt must stop: its media is gone, or another attempt now holds the job."""

    def __init__(self, *, gone: bool) -> None:
        super().__init__(
            "the media was deleted while it was processed"
            if gone
            else "another attempt took the job over"
        )
        self.gone = gone
