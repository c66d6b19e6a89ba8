"""Where the client talks to and as whom: MEDIAVAULT_URL and MEDIAVAULT_TOKEN, or `login`'s file."""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from mediavault.client.errors import ClientError, NotConfigured

CONFIG_FILE = "config.json"
INSECURE = "MEDIAVAULT_INSECURE"
_YES, _NO = frozenset({"1", "true", "yes"}), frozenset({"", "0", "false", "no"})


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


def is_loopback(host: str | None) -> bool:
    """True for this machine: localhost, 127.0.0.0/8 and ::1 (and IPv4-mapped 127.x)."""
    if not host:
        return False
    if host.lower().rstrip(".") == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped.is_loopback
    return address.is_loopback


def insecure_allowed(environ: Mapping[str, str]) -> bool:
    """MEDIAVAULT_INSECURE: 1 when the user accepts a token sent over plain HTTP."""
    value = environ.get(INSECURE, "").strip().lower()
    if value not in _YES | _NO:
        raise NotConfigured(f"{INSECURE} must be 1 or 0, got {value!r}")
    return value in _YES


def refuse_plain_http(url: str, how: str) -> NotConfigured:
    """The refusal to send the token over plain HTTP to another machine, and how to accept it."""
    return NotConfigured(
        f"refusing to send your API token unencrypted to {url} (plain http:// to another"
        f" machine: anyone on the way can read it and act as you). Use https://, or accept"
        f" the risk with {how}"
    )


@dataclass(frozen=True)
class ClientConfig:
    """The server's URL and a personal API token."""

    url: str
    token: str
    allow_insecure: bool = False  # the user accepted plain HTTP to this server

    @property
    def insecure(self) -> bool:
        """True when the token would travel unencrypted to another machine."""
        parts = urlsplit(self.url)
        return parts.scheme == "http" and not is_loopback(parts.hostname)

    @classmethod
    def load(cls, environ: Mapping[str, str]) -> ClientConfig:
        """The environment's MEDIAVAULT_URL/MEDIAVAULT_TOKEN, each over the saved login.

        Plain HTTP to another machine is refused (NotConfigured) unless accepted: by
        MEDIAVAULT_INSECURE=1, or by `login --insecure` for the server it saved.
        """
        saved: dict[str, object] = {}
        path = config_dir(environ) / CONFIG_FILE
        if path.is_file():
            try:
                loaded = json.loads(path.read_text())
            except (OSError, ValueError) as error:
                raise ClientError(f"cannot read {path}: {error}") from None
            if isinstance(loaded, dict):
                saved = loaded
        url = environ.get("MEDIAVAULT_URL") or _text(saved.get("url"))
        token = environ.get("MEDIAVAULT_TOKEN") or _text(saved.get("token"))
        if not url or not token:
            raise NotConfigured(
                "no server configured: run `mediavault login`, or set MEDIAVAULT_URL and"
                " MEDIAVAULT_TOKEN"
            )
        url = normalise_url(url)
        accepted = saved.get("insecure") is True and url == saved.get("url")
        config = cls(url, token.strip(), insecure_allowed(environ) or accepted)
        if config.insecure and not config.allow_insecure:
            how = f"`mediavault login --insecure`, or {INSECURE}=1 with MEDIAVAULT_URL"
            raise refuse_plain_http(url, how)
        return config

    def save(self, environ: Mapping[str, str]) -> Path:
        """Write the login to the user's config directory, readable by them alone."""
        directory = config_dir(environ)
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = directory / CONFIG_FILE
        temporary = directory / f".{CONFIG_FILE}.{os.getpid()}"
        saved: dict[str, object] = {"url": self.url, "token": self.token}
        if self.allow_insecure and self.insecure:
            saved["insecure"] = True
        # Created 0600 from the start: the token is never readable by others, not even briefly.
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as file:
            json.dump(saved, file)
        os.replace(temporary, path)
        return path


def _text(value: object) -> str | None:
    return value if isinstance(value, str) else None
