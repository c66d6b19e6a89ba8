"""The client's parts that need no server: parsing, file types, names, config, retries."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import httpx
import pytest

from mediavault.client.api import Api, RetryPolicy
from mediavault.client.cli import duration, rate
from mediavault.client.config import ClientConfig
from mediavault.client.errors import ApiError, ClientError, NotConfigured, RequestLost, Unreachable
from mediavault.client.files import content_type_for
from mediavault.client.names import local_names

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
JPEG = b"\xff\xd8\xff\xe0" + b"\x00" * 64
HEIC = b"\x00\x00\x00\x18ftypheic" + b"\x00" * 64


def test_durations_and_rates() -> None:
    assert duration("7d") == 7 * 86400
    assert duration("12h") == 12 * 3600
    assert duration("2w") == 14 * 86400
    assert duration("never") is None
    assert rate("10M") == 10 * 1024 * 1024
    assert rate("500k") == 500 * 1024
    assert rate("1.5MB/s") == int(1.5 * 1024 * 1024)
    for bad in ("7", "soon", "-1d"):
        with pytest.raises(argparse.ArgumentTypeError):
            duration(bad)
    for bad in ("fast", "0", "-5M"):
        with pytest.raises(argparse.ArgumentTypeError):
            rate(bad)


def test_file_types_come_from_the_bytes_and_refusals_say_why() -> None:
    assert content_type_for(Path("a.png"), PNG) == ("image/png", None)
    assert content_type_for(Path("renamed.jpg"), PNG) == ("image/png", None)
    assert content_type_for(Path("noext"), JPEG) == ("image/jpeg", None)
    assert content_type_for(Path("a.mov"), b"\x00\x00\x00\x14ftypqt  " + b"\x00" * 16) == (
        "video/quicktime", None,
    )  # fmt: skip
    kind, why = content_type_for(Path("notes.txt"), b"bring sunscreen\n")
    assert kind is None
    assert why is not None
    assert "(text)" in why
    assert content_type_for(Path("IMG_1.HEIC"), HEIC) == ("image/heic", None)
    kind, why = content_type_for(Path("logo.svg"), b'<svg xmlns="http://www.w3.org/2000/svg"/>')
    assert kind is None
    assert why is not None
    assert "SVG" in why


def test_downloaded_names_are_safe_and_distinct() -> None:
    items = [
        {"id": "1", "filename": "a.jpg"}, {"id": "2", "filename": "A.jpg"},
        {"id": "3", "filename": "../../etc/passwd"}, {"id": "4", "filename": ".."},
        {"id": "5", "filename": "a.jpg"},
    ]  # fmt: skip
    assert local_names(items) == ["a.jpg", "A (2).jpg", "passwd", "4", "a (3).jpg"]


def test_the_environment_wins_over_the_saved_login(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    with pytest.raises(NotConfigured):
        ClientConfig.load(env)
    saved = ClientConfig("https://vault.example.org", "saved-token").save(env)
    assert json.loads(saved.read_text())["token"] == "saved-token"
    assert ClientConfig.load(env) == ClientConfig("https://vault.example.org", "saved-token")
    mine = ClientConfig.load({**env, "MEDIAVAULT_TOKEN": "env-token"})
    assert mine == ClientConfig("https://vault.example.org", "env-token")
    with pytest.raises(ClientError):
        ClientConfig.load({**env, "MEDIAVAULT_URL": "ftp://vault.example.org"})
    assert ClientConfig("http://vault.example.org", "t").insecure
    assert not ClientConfig("http://127.0.0.1:8080", "t").insecure


def test_retry_after_is_honoured_up_to_a_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=8, max_retry_after=120)
    assert [policy.delay(n) for n in (1, 2, 3, 6)] == [0.5, 1.0, 2.0, 8]
    assert policy.delay(1, retry_after=60) == 60
    assert policy.delay(1, retry_after=3600) == 120


FAST = RetryPolicy(attempts=3, base_delay=0.0, max_retry_after=0.0)
CONFIG = ClientConfig("http://mediavault.test", "token")


def _api(handler: httpx.MockTransport) -> Api:
    return Api(CONFIG, retry=FAST, transport=handler)


def test_transient_answers_are_retried_and_others_are_not() -> None:
    seen: list[str] = []

    def busy_then_fine(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Authorization"])
        if len(seen) < 3:
            return httpx.Response(503 if len(seen) == 1 else 429, headers={"Retry-After": "1"},
                                  json={"error": {"code": "busy", "message": "later"}})  # fmt: skip
        return httpx.Response(200, json={"id": "u1", "username": "alice"})

    assert _api(httpx.MockTransport(busy_then_fine)).me()["username"] == "alice"
    assert seen == ["Bearer token"] * 3

    def always_busy(request: httpx.Request) -> httpx.Response:
        return httpx.Response(429, json={"error": {"code": "upload_rate_limited", "message": "x"}})

    with pytest.raises(ApiError) as busy:
        _api(httpx.MockTransport(always_busy)).me()
    assert (busy.value.status, busy.value.code) == (429, "upload_rate_limited")

    calls = 0

    def refuses(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(415, json={"error": {"code": "unsupported_media_type",
                                                   "message": "no"}})  # fmt: skip

    with pytest.raises(ApiError):
        _api(httpx.MockTransport(refuses)).start_upload({})
    assert calls == 1


def test_a_lost_answer_to_an_upload_is_not_sent_again_blindly() -> None:
    calls = 0

    def drops(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadError("connection reset after the request went out")

    with pytest.raises(RequestLost):
        _api(httpx.MockTransport(drops)).start_upload({}, resend=False)
    assert calls == 1
    with pytest.raises(Unreachable):
        _api(httpx.MockTransport(drops)).me()  # idempotent: retried, then given up
    assert calls == 1 + FAST.attempts
