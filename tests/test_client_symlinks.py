"""`mediavault upload DIR`: symbolic links inside the folder are not followed unless asked."""

from __future__ import annotations

import subprocess
from pathlib import Path

from mediavault.client.files import scan
from tests.client_fakes import client_command, client_env, fake_vault

JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64


def _folder(root: Path) -> Path:
    """An album with a link to a file outside it, one to a folder outside it, and a loop."""
    (root / "outside" / "dir").mkdir(parents=True)
    (root / "outside" / "secret.jpg").write_bytes(JPEG + b"secret")
    (root / "outside" / "dir" / "deep.jpg").write_bytes(JPEG + b"deep")
    album = root / "album"
    (album / "sub").mkdir(parents=True)
    (album / "a.jpg").write_bytes(JPEG + b"a")
    (album / "sub" / "b.jpg").write_bytes(JPEG + b"b")
    (album / "link.jpg").symlink_to(root / "outside" / "secret.jpg")
    (album / "linkdir").symlink_to(root / "outside" / "dir")
    (album / "sub" / "loop").symlink_to(album)
    (album / "sub" / "twin").symlink_to(album / "sub")
    return album


def test_links_inside_a_folder_are_skipped_and_named(tmp_path: Path) -> None:
    album = _folder(tmp_path)
    found = scan([album], recursive=True)
    assert [f.name for f in found.files] == ["album/a.jpg", "album/sub/b.jpg"]
    skipped = "\n".join(found.skipped)
    for link in ("album/link.jpg", "album/linkdir", "album/sub/loop", "album/sub/twin"):
        assert f"{link}: a symbolic link, not followed" in skipped
    flat = scan([album], recursive=False)
    assert [f.name for f in flat.files] == ["album/a.jpg"]
    assert "album/link.jpg: a symbolic link, not followed" in "\n".join(flat.skipped)
    # Named on the command line, a link is what the user asked for.
    named = scan([album / "link.jpg"], recursive=False)
    assert [f.path for f in named.files] == [album / "link.jpg"]


def test_followed_links_do_not_loop(tmp_path: Path) -> None:
    album = _folder(tmp_path)
    found = scan([album], recursive=True, follow_symlinks=True)
    assert [f.name for f in found.files] == [
        "album/a.jpg", "album/link.jpg", "album/linkdir/deep.jpg", "album/sub/b.jpg",
    ]  # fmt: skip
    skipped = "\n".join(found.skipped)
    assert "album/sub/loop: a folder already walked" in skipped
    assert "album/sub/twin: a folder already walked" in skipped


def test_the_command_says_what_it_skipped(tmp_path: Path) -> None:
    album = _folder(tmp_path)
    with fake_vault() as vault:
        vault.json("/api/auth/me", {"id": "u1", "username": "alice"})
        env = client_env(tmp_path / "home", MEDIAVAULT_URL=vault.url, MEDIAVAULT_TOKEN="t")

        def dry_run(*args: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(client_command("upload", str(album), "-r", "--dry-run", *args),
                                  env=env, capture_output=True, text=True, timeout=120,
                                  check=False)  # fmt: skip

        plain = dry_run()
        followed = dry_run("--follow-symlinks")
    assert plain.returncode == 0, plain.stderr
    assert "2 to upload" in plain.stdout, plain.stdout
    assert "secret" not in plain.stdout
    assert "album/link.jpg: a symbolic link, not followed (--follow-symlinks follows it)" in (
        plain.stderr
    )
    assert followed.returncode == 0, followed.stderr
    assert "4 to upload" in followed.stdout, followed.stdout
    assert "would send album/link.jpg" in followed.stdout
