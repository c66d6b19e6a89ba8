"""`mediavault upload` and `download` on the real stack: a folder tree in, byte for byte out."""

from __future__ import annotations

import shutil
from pathlib import Path

from tests.api_fixtures import ApiUser, MakeUser
from tests.client_fixtures import (
    ClientStack,
    all_media,
    api_get,
    clip,
    lines_with,
    photo,
    sha256,
)


def _tree(root: Path) -> dict[str, Path]:
    """Photos and a video in nested folders, a copy under another name, and two misfits."""
    files = {
        "a": photo(root / "trip" / "a.jpg", "red"),
        "b": photo(root / "trip" / "day 2" / "b.png", "blue"),
        "c": photo(root / "trip" / "day 2" / "evening" / "c.jpg", "green"),
        "clip": clip(root / "trip" / "videos" / "clip.mp4"),
    }
    copy = root / "trip" / "day 2" / "copy of a.jpg"
    shutil.copyfile(files["a"], copy)
    (root / "trip" / "notes.txt").write_text("bring sunscreen\n")
    (root / "trip" / "empty.jpg").write_bytes(b"")
    (root / "trip" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    return files


def test_a_folder_tree_is_uploaded_into_a_collection_and_downloaded_byte_for_byte(
    client_stack: ClientStack, make_user: MakeUser, tmp_path: Path
) -> None:
    alice: ApiUser = make_user()
    files = _tree(tmp_path / "photos")
    home = tmp_path / "home"

    run = client_stack.run(
        alice, home, "upload", str(tmp_path / "photos" / "trip"), "--recursive",
        "--collection", "Summer 2026", "--tag", "trip", "--tag", "beach", "--wait",
        "--concurrency", "3",
    )  # fmt: skip

    out = run.stdout
    assert run.returncode == 1, (out, run.stderr)  # two files were refused
    assert "done: 4 uploaded, 1 skipped as duplicates, 2 refused, 0 failed" in out, out
    assert len(lines_with(out, "uploaded ")) == 4
    [duplicate] = lines_with(out, "duplicate ")
    assert "copy of a.jpg: same file as trip/a.jpg" in duplicate
    refused = "\n".join(lines_with(out, "refused"))
    assert "notes.txt: not a photo, video or audio file" in refused
    assert "empty.jpg: empty file" in refused
    assert ".DS_Store" not in out

    media = all_media(client_stack, alice)
    assert len(media) == 4
    by_name = {m["filename"]: m for m in media}
    assert set(by_name) == {"a.jpg", "b.png", "c.jpg", "clip.mp4"}
    for key, path in files.items():
        item = by_name[path.name]
        assert item["status"] == "ready", (key, item["error"])
        assert item["sha256"] == sha256(path)
        assert sorted(item["tags"]) == ["beach", "trip"]

    [collection] = api_get(client_stack, alice, "/api/collections")["items"]
    assert collection["title"] == "Summer 2026"
    full = api_get(client_stack, alice, f"/api/collections/{collection['id']}")
    # In the order the files were found; the copy is the same media as a.jpg.
    assert [m["filename"] for m in full["items"]] == ["a.jpg", "b.png", "c.jpg", "clip.mp4"]

    target = tmp_path / "restored"
    fetched = client_stack.run(alice, home, "download", "Summer 2026", str(target))
    assert fetched.returncode == 0, fetched.stdout + fetched.stderr
    assert sorted(p.name for p in target.iterdir()) == ["a.jpg", "b.png", "c.jpg", "clip.mp4"]
    for path in files.values():
        assert (target / path.name).read_bytes() == path.read_bytes()
    again = client_stack.run(alice, home, "download", collection["id"], str(target))
    assert "done: 0 downloaded, 4 present" in again.stdout, again.stdout

    # A second run sends nothing: every file is already in the vault (and in the collection).
    rerun = client_stack.run(alice, home, "upload", str(tmp_path / "photos" / "trip"), "-r",
                             "--collection", "Summer 2026")  # fmt: skip
    assert "done: 0 uploaded, 5 skipped as duplicates, 2 refused, 0 failed" in rerun.stdout
    assert " 0 B sent" in rerun.stdout
    assert len(all_media(client_stack, alice)) == 4
    assert len(api_get(client_stack, alice, f"/api/collections/{collection['id']}")["items"]) == 4


def test_a_dry_run_sends_nothing_and_says_what_it_would(
    client_stack: ClientStack, make_user: MakeUser, tmp_path: Path
) -> None:
    alice = make_user()
    photo(tmp_path / "in" / "x.jpg")
    run = client_stack.run(alice, tmp_path / "home", "upload", str(tmp_path / "in"), "--dry-run",
                           "--collection", "Never made")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "would send in/x.jpg" in run.stdout
    assert "1 to upload" in run.stdout
    assert all_media(client_stack, alice) == []
    assert api_get(client_stack, alice, "/api/collections")["items"] == []
