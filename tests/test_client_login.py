"""The API token never travels over plain HTTP to another machine unless the user says so.

The fake server is also the client's HTTP proxy: a request for `http://vault.example.org` reaches
it, so each test sees whether the token would have left the machine.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from mediavault.client.config import ClientConfig, is_loopback
from mediavault.client.errors import NotConfigured
from tests.client_fakes import FakeVault, client_command, client_env, fake_vault

REMOTE = "http://vault.example.org"


def _run(vault: FakeVault, home: Path, *args: str, stdin: str = "", **env: str) -> (
    subprocess.CompletedProcess[str]
):  # fmt: skip
    return subprocess.run(client_command(*args), env=client_env(home, HTTP_PROXY=vault.url, **env),
                          input=stdin, capture_output=True, text=True, timeout=120,
                          check=False)  # fmt: skip


def _vault(vault: FakeVault) -> FakeVault:
    vault.json("/api/auth/me", {"id": "u1", "username": "alice"})
    vault.json("/api/media", {"items": [], "next_cursor": None})
    return vault


def test_login_over_plain_http_to_another_machine_is_refused(tmp_path: Path) -> None:
    home = tmp_path / "home"
    saved = home / ".config" / "mediavault" / "config.json"
    with fake_vault() as raw:
        vault = _vault(raw)
        refused = _run(vault, home, "login", "--url", REMOTE, stdin="secret-token\n")
        assert refused.returncode == 2, refused.stdout + refused.stderr
        assert "--insecure" in refused.stderr
        assert "https://" in refused.stderr
        assert vault.seen == []  # the token never left
        assert not saved.exists()

        allowed = _run(vault, home, "login", "--url", REMOTE, "--insecure",
                       stdin="secret-token\n")  # fmt: skip
        assert allowed.returncode == 0, allowed.stderr
        assert "not HTTPS" in allowed.stderr
        assert [(s.host, s.authorization) for s in vault.seen] == [
            ("vault.example.org", "Bearer secret-token")
        ]
        assert json.loads(saved.read_text()) == {"url": REMOTE, "token": "secret-token",
                                                 "insecure": True}  # fmt: skip
        # The choice was made for that server: later commands use it without asking again.
        listed = _run(vault, home, "ls")
        assert listed.returncode == 0, listed.stderr
        assert len(vault.seen) == 2


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080", "http://127.8.9.10", "http://[::1]:80",
                                 "http://localhost:8080", "https://vault.example.org"])  # fmt: skip
def test_loopback_and_https_need_no_flag(tmp_path: Path, url: str) -> None:
    with fake_vault() as raw:
        vault = _vault(raw)
        if url.startswith("https"):  # the proxy speaks plain HTTP: nothing to reach here
            assert ClientConfig.load({"HOME": str(tmp_path), "MEDIAVAULT_URL": url,
                                      "MEDIAVAULT_TOKEN": "t"}).url == url  # fmt: skip
            return
        login = _run(vault, tmp_path / "home", "login", "--url", url, stdin="secret-token\n")
    assert login.returncode == 0, login.stderr
    assert [s.authorization for s in vault.seen] == ["Bearer secret-token"]
    assert "not HTTPS" not in login.stderr


def test_other_commands_refuse_plain_http_from_the_environment(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {"MEDIAVAULT_URL": REMOTE, "MEDIAVAULT_TOKEN": "secret-token"}
    with fake_vault() as raw:
        vault = _vault(raw)
        for command in (["ls"], ["collections"], ["download", "x", str(tmp_path / "out")],
                        ["upload", str(tmp_path), "--dry-run"]):  # fmt: skip
            refused = _run(vault, home, *command, **env)
            assert refused.returncode == 2, (command, refused.stdout + refused.stderr)
            assert "MEDIAVAULT_INSECURE=1" in refused.stderr
        assert vault.seen == []
        wrong = _run(vault, home, "ls", MEDIAVAULT_INSECURE="perhaps", **env)
        assert wrong.returncode == 2
        assert "MEDIAVAULT_INSECURE" in wrong.stderr
        assert vault.seen == []
        allowed = _run(vault, home, "ls", MEDIAVAULT_INSECURE="1", **env)
        assert allowed.returncode == 0, allowed.stderr
        assert [s.authorization for s in vault.seen] == ["Bearer secret-token"]


def test_a_saved_insecure_login_covers_only_its_own_server(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path)}
    ClientConfig(REMOTE, "saved", allow_insecure=True).save(env)
    assert ClientConfig.load(env).allow_insecure
    with pytest.raises(NotConfigured):
        ClientConfig.load({**env, "MEDIAVAULT_URL": "http://other.example.org"})


def test_what_counts_as_this_machine() -> None:
    for here in ("127.0.0.1", "127.255.0.9", "::1", "localhost", "LOCALHOST", "::ffff:127.0.0.1"):
        assert is_loopback(here), here
    wildcard = "0.0.0.0"  # noqa: S104  (not bound: a host name that is not this machine)
    for host in ("10.0.0.1", "192.168.1.2", "127.0.0.1.example.org", "localhost.example.org",
                 wildcard, "::", "vault.example.org", None, ""):  # fmt: skip
        assert not is_loopback(host), host
