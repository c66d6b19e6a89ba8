"""The client's other commands on the real stack, and what the client may and may not load."""

from __future__ import annotations

import ast
import json
import stat
import subprocess
import sys
from pathlib import Path

import httpx

from tests.api_fixtures import MakeUser
from tests.client_fixtures import ClientStack, photo

ROOT = Path(__file__).resolve().parent.parent
SERVER_ONLY = {
    "psycopg", "psycopg_pool", "minio", "ffmpeg", "processing", "nsq", "tornado", "PIL",
    "kubernetes", "yoyo", "flask", "werkzeug", "functions_framework", "authlib",
}  # fmt: skip

LOADED = """
import importlib, json, pkgutil, sys
import mediavault.client
for module in pkgutil.iter_modules(mediavault.client.__path__):
    importlib.import_module(f"mediavault.client.{module.name}")
from mediavault.cli import main
status = main(["ls"])  # no server configured: refused before any request
try:
    main(["upload", "--help"])
except SystemExit:
    pass
print(json.dumps({"status": status, "modules": sorted(sys.modules)}))
"""


def test_the_client_loads_no_server_dependency(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", LOADED], env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60, check=False, cwd=ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.splitlines()[-1])
    assert report["status"] == 2
    assert "mediavault login" in result.stderr
    loaded = {name.split(".")[0] for name in report["modules"]}
    assert "httpx" in loaded  # it did load the client for real
    assert loaded & SERVER_ONLY == set()


def test_nothing_in_the_core_imports_processing() -> None:
    offenders = []
    for path in (ROOT / "mediavault").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "processing"]
    assert offenders == []


def test_the_worker_command_is_registered_from_processing() -> None:
    from mediavault.cli import _parser

    parser = _parser()
    args = parser.parse_args(["worker"])
    assert args.registered.run.__module__ == "processing.command"
    assert "worker" in parser.format_help()


def _plain_env(client_stack: ClientStack, home: Path) -> dict[str, str]:
    """No MEDIAVAULT_URL or MEDIAVAULT_TOKEN: only what `login` saved."""
    return {"HOME": str(home), "PATH": client_stack.stack.env["PATH"], "LANG": "C.UTF-8"}


def test_login_saves_the_server_and_token_for_the_user_alone(
    client_stack: ClientStack, make_user: MakeUser, tmp_path: Path
) -> None:
    alice = make_user()
    token = alice.headers["Authorization"].removeprefix("Bearer ")
    home = tmp_path / "home"
    env = _plain_env(client_stack, home)

    wrong = subprocess.run(client_stack.command("login", "--url", client_stack.url), env=env,
                           input="not-a-token\n", capture_output=True, text=True, timeout=60,
                           check=False)  # fmt: skip
    assert wrong.returncode == 1
    assert "401" in wrong.stderr
    assert not (home / ".config" / "mediavault" / "config.json").exists()

    login = subprocess.run(client_stack.command("login", "--url", client_stack.url + "/"),
                           env=env, input=token + "\n", capture_output=True, text=True,
                           timeout=60, check=False)  # fmt: skip
    assert login.returncode == 0, login.stderr
    assert f"as {alice.name}" in login.stdout
    saved = home / ".config" / "mediavault" / "config.json"
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert stat.S_IMODE(saved.parent.stat().st_mode) == 0o700
    assert json.loads(saved.read_text()) == {"url": client_stack.url, "token": token}

    listed = subprocess.run(client_stack.command("ls"), env=env, capture_output=True, text=True,
                            timeout=60, check=False)  # fmt: skip
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == ""  # nothing uploaded yet, and signed in


def test_ls_collections_and_a_password_protected_share(
    client_stack: ClientStack, make_user: MakeUser, tmp_path: Path
) -> None:
    alice = make_user()
    home = tmp_path / "home"
    photo(tmp_path / "beach" / "sea.jpg", "blue")
    photo(tmp_path / "beach" / "sand.png", "yellow")
    photo(tmp_path / "other.jpg", "gray")
    up = client_stack.run(alice, home, "upload", str(tmp_path / "beach"), "--collection",
                          "Beach", "--tag", "sun", "--wait")  # fmt: skip
    assert up.returncode == 0, up.stdout + up.stderr
    assert client_stack.run(alice, home, "upload", str(tmp_path / "other.jpg")).returncode == 0

    tagged = client_stack.run(alice, home, "ls", "--tag", "sun").stdout.splitlines()
    assert sorted(line.split()[-2] for line in tagged) == ["sand.png", "sea.jpg"]
    assert all(" ready " in line and line.endswith("[sun]") for line in tagged)
    assert len(client_stack.run(alice, home, "ls").stdout.splitlines()) == 3
    assert client_stack.run(alice, home, "ls", "--status", "failed").stdout == ""
    [collection] = client_stack.run(alice, home, "collections").stdout.splitlines()
    assert collection.endswith("2 items  Beach")

    share = client_stack.run(alice, home, "share", "Beach", "--expires", "1d", "--password",
                             "--allow-download", stdin="sand castle\n")  # fmt: skip
    assert share.returncode == 0, share.stderr
    url = share.stdout.strip()
    assert url.startswith(client_stack.url + "/s/")
    token = url.rsplit("/", 1)[1]
    view = f"{client_stack.url}/api/share/{token}"
    with httpx.Client() as visitor:  # someone without an account, with the link
        assert visitor.get(view).status_code == 401
        unlocked = visitor.post(f"{view}/unlock", json={"password": "sand castle"})
        assert unlocked.status_code == 204
        shown = visitor.get(view).json()
    assert shown["collection"]["title"] == "Beach"
    assert len(shown["items"]) == 2
    assert all(item["urls"]["original"] for item in shown["items"])

    missing = client_stack.run(alice, home, "share", "Nowhere")
    assert missing.returncode == 1
    assert "no collection called 'Nowhere'" in missing.stderr
