"""`mediavault download` from a hostile server: no overwrites, no hidden or escaping names."""

from __future__ import annotations

import hashlib
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mediavault.client.download import place
from mediavault.client.names import local_names, safe_name
from tests.client_fakes import FakeVault, client_command, client_env, fake_vault

COLLECTION = "c0c0c0c0-0000-4000-8000-000000000000"
LONG = "x" * 296 + ".jpg"  # 300 bytes
ACCENTED = "é" * 150 + ".mp4"  # 304 bytes
# What the server names each item, and the name it must get in the folder.
HOSTILE = [
    (".bashrc", "bashrc"),
    ("existing.jpg", "existing.jpg"),
    ("../escape.jpg", "escape.jpg"),
    (LONG, "x" * 251 + ".jpg"),
    ("sub/dir/slashed.jpg", "slashed.jpg"),
    ("back\\slash.jpg", "slash.jpg"),
    ("bell\x07\x1b[31mred.jpg", "bell__[31mred.jpg"),
    ("nul\x00.jpg", "nul_.jpg"),
    ("a/dup.jpg", "dup.jpg"),
    ("b/dup.jpg", "dup (2).jpg"),
    (".dup.jpg", "dup (3).jpg"),
    ("con.jpg", "_con.jpg"),
    ("evil\u202egpj.exe", "evil_gpj.exe"),
    (ACCENTED, "é" * 125 + ".mp4"),
]


def _media_id(index: int) -> str:
    return f"00000000-0000-4000-8000-{index:012d}"


def _serve(vault: FakeVault, named: list[tuple[str, bytes]], **overrides: Any) -> None:
    """A collection holding these files under these names (and correct checksums)."""
    items = []
    for index, (name, data) in enumerate(named):
        path = f"/storage/{index}"
        vault.raw(path, data)
        items.append({
            "id": _media_id(index), "filename": name, "size_bytes": len(data), "status": "ready",
            "sha256": hashlib.sha256(data).hexdigest(), "urls": {"original": vault.url + path},
            **overrides,
        })  # fmt: skip
    listed = {"id": COLLECTION, "title": "Hostile", "item_count": len(items)}
    vault.json("/api/collections", {"items": [listed], "next_cursor": None})
    vault.json(f"/api/collections/{COLLECTION}", {"id": COLLECTION, "title": "Hostile",
                                                  "items": items})  # fmt: skip


def _download(vault: FakeVault, home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = client_env(home, MEDIAVAULT_URL=vault.url, MEDIAVAULT_TOKEN="token")
    return subprocess.run(client_command("download", *args), env=env, capture_output=True,
                          text=True, timeout=120, check=False)  # fmt: skip


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_a_hostile_server_cannot_overwrite_hide_or_escape(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / ".bashrc").write_text("alias ls='ls -F'\n")
    (home / "existing.jpg").write_bytes(b"my own photo")
    served = {name: f"item {index} ".encode() * 50 for index, (name, _) in enumerate(HOSTILE)}
    before = {k: v for k, v in _tree(tmp_path).items() if not k.startswith("home/")}
    with fake_vault() as vault:
        _serve(vault, list(served.items()))

        first = _download(vault, home, "Hostile", str(home))
        out = first.stdout + first.stderr
        assert "Traceback" not in out, out
        assert not any(c in out for c in "\x00\x07\x1b\u202e"), out
        assert first.returncode == 1, out  # one item was not written: existing.jpg
        assert f"done: {len(HOSTILE) - 1} downloaded, 0 present, 1 not overwritten" in out, out
        assert (home / ".bashrc").read_text() == "alias ls='ls -F'\n"
        assert (home / "existing.jpg").read_bytes() == b"my own photo"
        expected = {local: served[name] for name, local in HOSTILE if name != "existing.jpg"}
        written = {p.name: p.read_bytes() for p in home.iterdir() if p.name != "existing.jpg"}
        assert written == {".bashrc": b"alias ls='ls -F'\n", **expected}
        assert all(len(name.encode()) <= 255 for name in written)
        # Nothing was written beside the folder (../escape.jpg), no temporary file is left.
        assert {k: v for k, v in _tree(tmp_path).items() if not k.startswith("home/")} == before

        forced = _download(vault, home, COLLECTION, str(home), "--overwrite")
        assert forced.returncode == 0, forced.stdout + forced.stderr
        assert f"done: 1 downloaded, {len(HOSTILE) - 1} present, 0 not overwritten" in (
            forced.stdout
        )
        assert (home / "existing.jpg").read_bytes() == served["existing.jpg"]
        assert (home / ".bashrc").read_text() == "alias ls='ls -F'\n"

        again = _download(vault, home, "Hostile", str(home))
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"done: 0 downloaded, {len(HOSTILE)} present" in again.stdout


def test_broken_answers_and_folders_are_messages_not_tracebacks(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with fake_vault() as vault:
        _serve(vault, [("a.jpg", b"abc")], filename=None)
        malformed = _download(vault, home, "Hostile", str(tmp_path / "out"))
        assert malformed.returncode == 1
        assert "Traceback" not in malformed.stderr
        assert "the server sent" in malformed.stderr, malformed.stderr

        vault.raw("/api/collections", b"<html>not json</html>", "text/html")
        garbled = _download(vault, home, "Hostile", str(tmp_path / "out"))
        assert garbled.returncode == 1
        assert "Traceback" not in garbled.stderr, garbled.stderr

        _serve(vault, [("a.jpg", b"abc")])
        (tmp_path / "a-file").write_text("not a folder")
        not_a_folder = _download(vault, home, "Hostile", str(tmp_path / "a-file"))
        assert not_a_folder.returncode == 1
        assert "Traceback" not in not_a_folder.stderr, not_a_folder.stderr
        assert "a-file" in not_a_folder.stderr

        # Other bytes than announced: failed, and nothing is left behind.
        _serve(vault, [("big.jpg", b"abc"), ("wrong.jpg", b"def")], sha256="0" * 64)
        bad = _download(vault, home, "Hostile", str(tmp_path / "bad"))
        assert bad.returncode == 1
        assert "2 failed" in bad.stdout, bad.stdout + bad.stderr
        assert list((tmp_path / "bad").iterdir()) == []


def test_an_oversized_answer_is_cut_off(tmp_path: Path) -> None:
    with fake_vault() as vault:
        _serve(vault, [("big.jpg", b"a" * 4096)], size_bytes=10)
        run = _download(vault, tmp_path / "home", "Hostile", str(tmp_path / "out"))
    assert run.returncode == 1
    assert "more than the 10 bytes" in run.stdout, run.stdout + run.stderr
    assert list((tmp_path / "out").iterdir()) == []


def test_safe_names() -> None:
    for raw, local in HOSTILE:
        if "dup" not in raw:
            assert safe_name(raw, "fallback") == local
    for nothing in ("", ".", "..", "/", "a/..", " ", "...", "./"):
        assert safe_name(nothing, "the-id") == "the-id"
    assert safe_name("\x00", "f") == "_"
    assert safe_name("LPT1", "f") == "_LPT1"
    assert safe_name("aux.tar.gz", "f") == "_aux.tar.gz"
    assert safe_name("photo. ", "f") == "photo"
    assert safe_name("a" * 300, "f") == "a" * 255
    # An extension too long to be one is cut like the rest of the name.
    assert safe_name("a." + "b" * 300, "f") == "a." + "b" * 253
    assert safe_name("x" * 300 + ".jpg", "f", limit=143) == "x" * 139 + ".jpg"


def test_names_made_alike_stay_distinct_and_fit() -> None:
    items = [{"id": str(n), "filename": LONG} for n in range(3)]
    names = local_names(items)
    assert names == ["x" * 251 + ".jpg", "x" * 247 + " (2).jpg", "x" * 247 + " (3).jpg"]
    alike = [{"id": "1", "filename": "Photo.JPG"}, {"id": "2", "filename": ".photo.jpg"},
             {"id": "3", "filename": "photo (2).jpg"}]  # fmt: skip
    assert local_names(alike) == ["Photo.JPG", "photo (2).jpg", "photo (2) (2).jpg"]


def test_a_finished_download_never_replaces_what_appeared_meanwhile(tmp_path: Path) -> None:
    partial = tmp_path / ".part"
    partial.write_bytes(b"downloaded")
    target = tmp_path / "photo.jpg"
    target.write_bytes(b"written by someone else in the meantime")
    assert place(partial, target) is False
    assert target.read_bytes() == b"written by someone else in the meantime"
    link = tmp_path / "link.jpg"
    link.symlink_to(tmp_path / "elsewhere.jpg")
    assert place(partial, link) is False
    assert not (tmp_path / "elsewhere.jpg").exists()
    free = tmp_path / "free.jpg"
    assert place(partial, free) is True
    assert free.read_bytes() == b"downloaded"
    assert not partial.exists()


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_symlink_in_the_folder_is_never_written_through(tmp_path: Path, overwrite: bool) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("precious")
    folder = tmp_path / "folder"
    folder.mkdir()
    (folder / "a.jpg").symlink_to(outside)
    with fake_vault() as vault:
        _serve(vault, [("a.jpg", b"from the server")])
        run = _download(vault, tmp_path / "home", "Hostile", str(folder),
                        *(["--overwrite"] if overwrite else []))  # fmt: skip
    assert outside.read_text() == "precious"
    if overwrite:
        assert run.returncode == 0, run.stdout + run.stderr
        assert not (folder / "a.jpg").is_symlink()
        assert (folder / "a.jpg").read_bytes() == b"from the server"
    else:
        assert run.returncode == 1
        assert (folder / "a.jpg").is_symlink()
