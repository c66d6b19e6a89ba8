"""The command-line client against the real stack: functions behind the gateway, and the worker."""

from __future__ import annotations

import hashlib
import json
import signal
import sqlite3
import subprocess
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.api_fixtures import ApiUser
from tests.harness import Stack, free_port, functions_behind_gateway
from tests.worker_fixtures import RunningWorker, h264_clip, lavfi

MIB = 1024 * 1024
# What the client speaks to; `web` and the share page are not needed.
CLIENT_FUNCTIONS = ("auth", "presign", "media", "collections", "share")


@dataclass
class ClientStack:
    """The API behind its gateway, and how to run `mediavault` as a user of it."""

    url: str
    stack: Stack

    def environment(self, user: ApiUser | None, home: Path) -> dict[str, str]:
        """A user's environment: their token (if any) and a home of their own."""
        env = {"HOME": str(home), "PATH": self.stack.env["PATH"], "LANG": "C.UTF-8",
               "MEDIAVAULT_URL": self.url}  # fmt: skip
        if user is not None:
            env["MEDIAVAULT_TOKEN"] = user.headers["Authorization"].removeprefix("Bearer ")
        return env

    def command(self, *args: str) -> list[str]:
        """`mediavault ARGS` as installed."""
        return [str(self.stack.binaries.python_bin / "mediavault"), *args]

    def run(
        self,
        user: ApiUser | None,
        home: Path,
        *args: str,
        stdin: str | None = None,
        timeout: float = 300,
    ) -> subprocess.CompletedProcess[str]:
        """Run the client to its end."""
        return subprocess.run(
            self.command(*args), env=self.environment(user, home), input=stdin,
            capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip

    def start(self, user: ApiUser, home: Path, *args: str) -> subprocess.Popen[str]:
        """Start the client; the caller ends it."""
        return subprocess.Popen(
            self.command(*args), env=self.environment(user, home),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            preexec_fn=_interruptible,  # noqa: PLW1509  (one signal call, no locks taken)
        )  # fmt: skip


def _interruptible() -> None:
    # A shell's background job (`make test &`) ignores SIGINT, and Python then never turns it
    # into KeyboardInterrupt: the client is given Ctrl-C as a terminal would deliver it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture(scope="session")
def client_stack(stack: Stack, worker: RunningWorker) -> Iterator[ClientStack]:
    url = f"http://127.0.0.1:{free_port()}"
    env = {
        **stack.env,
        "API_BASE_URL": url,
        "FRONTEND_URL": url,
        "MEDIAVAULT_DEV_FUNCTIONS_PORT": str(free_port()),
        # Multipart from a few MiB on (5 MiB is S3's smallest part).
        "MULTIPART_THRESHOLD_BYTES": str(5 * MIB),
        "MULTIPART_PART_SIZE_BYTES": str(5 * MIB),
    }
    probes = ("/api/auth/me", "/api/media", "/api/collections", "/api/share/x")
    # Five functions starting at once on a shared machine: a generous deadline.
    with functions_behind_gateway(stack, env, probes, only=CLIENT_FUNCTIONS, deadline_seconds=180):
        yield ClientStack(url, stack)


def photo(path: Path, colour: str = "red", size: str = "64x48") -> Path:
    """A one-frame picture; its format from the extension (.jpg, .png)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return lavfi(path, "-f", "lavfi", "-i", f"color={colour}:size={size}", "-frames:v", "1")


def clip(path: Path) -> Path:
    """A one-second H.264 clip."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return h264_clip(path, seconds=1.0, size="160x120")


def wav(path: Path, seconds: float) -> Path:
    """Uncompressed stereo audio: about 188 KiB a second, processed without a transcode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    return lavfi(path, "-f", "lavfi", "-i", f"sine=frequency=330:duration={seconds}",
                 "-ac", "2", "-ar", "48000", "-c:a", "pcm_s16le")  # fmt: skip


def sha256(path: Path) -> str:
    """The file's SHA-256."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def api_get(client_stack: ClientStack, user: ApiUser, path: str, **params: Any) -> Any:
    """A GET of the API as the user, through the gateway."""
    response = httpx.get(client_stack.url + path, headers=user.headers, params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def all_media(client_stack: ClientStack, user: ApiUser) -> list[dict[str, Any]]:
    """Every media of the user."""
    return list(api_get(client_stack, user, "/api/media", limit=100)["items"])


def lines_with(output: str, prefix: str) -> Sequence[str]:
    """The output's lines that start with a word (uploaded, duplicate, refused …)."""
    return [line for line in output.splitlines() if line.startswith(prefix)]


def resume_record(home: Path, path: Path) -> dict[str, Any] | None:
    """The client's resume record of a file, read as another process would."""
    database = home / ".local" / "state" / "mediavault" / "uploads.sqlite3"
    if not database.exists():
        return None
    try:
        with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as conn:
            row = conn.execute(
                "SELECT phase, media_id, upload, parts FROM uploads WHERE path = ?", (str(path),)
            ).fetchone()
    except sqlite3.OperationalError:  # the client has not made its table yet
        return None
    if row is None:
        return None
    return {"phase": row[0], "media_id": row[1], "upload": json.loads(row[2] or "null"),
            "parts": json.loads(row[3])}  # fmt: skip
