"""Where the client talks to and as whom: MEDIAVAULT_URL and MEDIAVAULT_TOKEN, or `login`'s file."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mediavault.client.errors import ClientError, NotConfigured

CONFIG_FILE = "config.json"


def config_dir(environ: Mapping[str, str]) -> Path:
    """$XDG_CONFIG_HOME/mediavault (~/.config/mediavault by default)."""
    base = environ.get("XDG_CONFIG_HOME") or str(Path(environ.get("HOME", "~")) / ".config")
    return Path(base).expanduser() / "mediavault"


def state_dir(environ: Mapping[str, str]) -> Path:
    """$XDG_STATE_HOME/mediavault (~/.local/state/mediavault by default): resume state."""
    base = environ.get("XDG_STATE_HOME") or str(Path(environ.get("HOME", "~")) / ".local/state")
    return Path(base).expanduser() / "mediavault"


def normalise_url(url: str) -> str:
    """The API's base URL without a trailing slash; ClientError unless http(s)."""
    url = url.strip().rstrip("/")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ClientError(f"the server URL must be http(s)://host[:port], got {url!r}")
    return url


@dataclass(frozen=True)
class ClientConfig:
    """The server's URL and a personal API token."""

    url: str
    token: str

    @property
    def insecure(self) -> bool:
        """True when the token would travel unencrypted to another machine."""
        parts = urlsplit(self.url)
        return parts.scheme == "http" and parts.hostname not in ("127.0.0.1", "localhost", "::1")

    @classmethod
    def load(cls, environ: Mapping[str, str]) -> ClientConfig:
        """The environment's MEDIAVAULT_URL/MEDIAVAULT_TOKEN, each over the saved login."""
        saved: dict[str, str] = {}
        path = config_dir(environ) / CONFIG_FILE
        if path.is_file():
            try:
                loaded = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                raise ClientError(f"cannot read {path}: {error}") from None
            if isinstance(loaded, dict):
                saved = {k: v for k, v in loaded.items() if isinstance(v, str)}
        url = environ.get("MEDIAVAULT_URL") or saved.get("url")
        token = environ.get("MEDIAVAULT_TOKEN") or saved.get("token")
        if not url or not token:
            raise NotConfigured(
                "no server configured: run `mediavault login`, or set MEDIAVAULT_URL and"
                " MEDIAVAULT_TOKEN"
            )
        return cls(normalise_url(url), token.strip())

    def save(self, environ: Mapping[str, str]) -> Path:
        """Write the login to the user's config directory, readable by them alone."""
        directory = config_dir(environ)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / CONFIG_FILE
        temporary = directory / f".{CONFIG_FILE}.{os.getpid()}"
        # Created 0600 from the start: the token is never readable by others, not even briefly.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump({"url": self.url, "token": self.token}, file)
        os.replace(temporary, path)
        return path
