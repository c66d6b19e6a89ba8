"""The client's branch of the exception tree (mediavault/errors.py).

MediaVaultError
└── ClientError              the client could not do what was asked
    ├── NotConfigured        no usable server URL or token (or plain HTTP not accepted)
    ├── ApiError             the API answered with an error (status, code, message)
    ├── StorageRefused       storage refused a presigned request (status, message)
    ├── Unreachable          the server or storage did not answer, after retries
    │   └── RequestLost      a request that must not be repeated blindly may have arrived
    ├── FileChanged          a local file changed while it was read
    └── Interrupted          the user stopped the run (Ctrl-C)
"""

from __future__ import annotations

from mediavault.errors import MediaVaultError


class ClientError(MediaVaultError):
    """The client could not do what was asked."""


class NotConfigured(ClientError):
    """No server URL or API token, or a URL the token may not be sent to."""


class ApiError(ClientError):
    """The API answered with an error."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{message} ({status} {code})")
        self.status = status
        self.code = code
        self.message = message


class StorageRefused(ClientError):
    """Storage refused a presigned request."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"storage refused the request: {message} ({status})")
        self.status = status
        self.message = message


class Unreachable(ClientError):
    """The server or storage did not answer, even after retries."""


class RequestLost(Unreachable):
    """The connection failed after the request was sent: it may or may not have been done."""


class FileChanged(ClientError):
    """A local file is not what it was when it was hashed."""


class Interrupted(ClientError):
    """The run was stopped by the user."""
