"""An upload killed during a multipart upload: the next run finishes it and sends nothing twice."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
from pathlib import Path
from typing import Any

from mediavault.services import Services
from mediavault.storage import Storage
from tests.api_fixtures import ApiUser, MakeUser
from tests.client_fixtures import (
    MIB,
    ClientStack,
    all_media,
    lines_with,
    photo,
    resume_record,
    sha256,
    wav,
)
from tests.harness import poll

PART = 5 * MIB  # the client stack's part size
UNITS = {"B": 1, "kB": 1e3, "MB": 1e6, "GB": 1e9}


def _folder(root: Path) -> dict[str, Path]:
    return {
        "big": wav(root / "album" / "big.wav", seconds=210),  # ~38 MiB: 8 parts
        "a": photo(root / "album" / "a.jpg", "red"),
        "b": photo(root / "album" / "b.jpg", "teal"),
        "c": photo(root / "album" / "sub" / "c.png", "olive"),
    }


def _sent_bytes(output: str) -> float:
    match = re.search(r"; ([\d.]+) (B|kB|MB|GB) sent in", output)
    assert match is not None, output
    return float(match.group(1)) * UNITS[match.group(2)]


def _unfinished_uploads(storage: Storage, media_ids: list[str]) -> list[str]:
    """Multipart uploads storage still holds for these media."""
    found = []
    for media_id in media_ids:
        listed = storage.client._list_multipart_uploads(
            storage.bucket, prefix=f"uploads/{media_id}"
        )
        found += [upload.upload_id for upload in listed.uploads if upload.upload_id]
    return found


def _interrupt_during_multipart(
    client_stack: ClientStack, alice: ApiUser, home: Path, big: Path, root: Path, how: int
) -> tuple[dict[str, Any], int]:
    """Start an upload, stop it (with `how`) once some parts of the big file are stored."""
    client = client_stack.start(alice, home, "upload", str(root / "album"), "--recursive",
                                "--concurrency", "2", "--limit-rate", "6M")  # fmt: skip
    try:
        poll(lambda: client.poll() is not None
             or len((resume_record(home, big) or {}).get("parts", {})) >= 2,
             "two parts of the big file stored", 120)  # fmt: skip
        assert client.poll() is None, client.communicate()
        client.send_signal(how)
        status = client.wait(60)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(10)
    record = resume_record(home, big)
    assert record is not None
    assert record["phase"] == "started", record  # killed while its parts were going out
    assert 2 <= len(record["parts"]) < len(record["upload"]["parts"])
    return record, status


def test_a_killed_upload_is_resumed_without_sending_any_stored_part_again(
    client_stack: ClientStack,
    make_user: MakeUser,
    services: Services,
    admin_storage: Storage,
    tmp_path: Path,
) -> None:
    alice = make_user()
    files = _folder(tmp_path)
    home = tmp_path / "home"
    record, status = _interrupt_during_multipart(
        client_stack, alice, home, files["big"], tmp_path, signal.SIGKILL
    )
    assert status == -signal.SIGKILL
    with services.pool.connection() as conn:
        row = conn.execute(
            "SELECT status, upload_id FROM media WHERE id = %s", (record["media_id"],)
        ).fetchone()
    assert row is not None
    assert (row["status"], row["upload_id"]) == ("pending", record["upload"]["upload_id"])

    rerun = client_stack.run(alice, home, "upload", str(tmp_path / "album"), "-r", "--wait")

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "(1 resumed)" in rerun.stdout
    [big_line] = [line for line in lines_with(rerun.stdout, "uploaded") if "big.wav" in line]
    assert big_line.endswith("(resumed)")
    # Only the parts that were not stored went out again (plus photos the first run left).
    left = files["big"].stat().st_size - PART * len(record["parts"])
    photos = sum(path.stat().st_size for key, path in files.items() if key != "big")
    assert _sent_bytes(rerun.stdout) <= (left + photos) * 1.001 + 100
    media = all_media(client_stack, alice)
    assert sorted(m["filename"] for m in media) == ["a.jpg", "b.jpg", "big.wav", "c.png"]
    assert all(m["status"] == "ready" for m in media), [
        (m["filename"], m["status"], m["error"]) for m in media
    ]
    by_name = {m["filename"]: m for m in media}
    assert by_name["big.wav"]["id"] == record["media_id"]  # the same upload, finished
    assert by_name["big.wav"]["sha256"] == sha256(files["big"])
    assert _unfinished_uploads(admin_storage, [m["id"] for m in media]) == []


def _interrupt_and_expire(
    client_stack: ClientStack, alice: ApiUser, home: Path, big: Path, root: Path
) -> dict[str, Any]:
    """Stop an upload with Ctrl-C mid-way, then make its recorded URLs look long expired."""
    record, status = _interrupt_during_multipart(client_stack, alice, home, big, root,
                                                 signal.SIGINT)  # fmt: skip
    assert status == 130  # Ctrl-C: stopped cleanly, between two chunks
    # As if the run had been left for hours: its presigned URLs are no good any more.
    database = home / ".local" / "state" / "mediavault" / "uploads.sqlite3"
    expired = {**record["upload"], "expires_at": "2020-01-01T00:00:00+00:00"}
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE uploads SET upload = ? WHERE media_id = ?",
                     (json.dumps(expired), record["media_id"]))  # fmt: skip
    return record


def _all_ready(client_stack: ClientStack, alice: ApiUser) -> dict[str, dict[str, Any]]:
    media = all_media(client_stack, alice)
    assert sorted(m["filename"] for m in media) == ["a.jpg", "b.jpg", "big.wav", "c.png"]
    assert all(m["status"] == "ready" for m in media), [
        (m["filename"], m["status"], m["error"]) for m in media
    ]
    return {m["filename"]: m for m in media}


def test_an_interrupted_upload_whose_urls_expired_is_resumed_with_fresh_ones(
    client_stack: ClientStack,
    make_user: MakeUser,
    admin_storage: Storage,
    tmp_path: Path,
) -> None:
    alice = make_user()
    files = _folder(tmp_path)
    home = tmp_path / "home"
    record = _interrupt_and_expire(client_stack, alice, home, files["big"], tmp_path)

    rerun = client_stack.run(alice, home, "upload", str(tmp_path / "album"), "-r", "--wait")

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    [big_line] = [line for line in lines_with(rerun.stdout, "uploaded") if "big.wav" in line]
    assert big_line.endswith("(resumed)")
    # The same upload, signed anew: only the parts that were not stored went out again.
    left = files["big"].stat().st_size - PART * len(record["parts"])
    photos = sum(path.stat().st_size for key, path in files.items() if key != "big")
    assert _sent_bytes(rerun.stdout) <= (left + photos) * 1.001 + 100
    by_name = _all_ready(client_stack, alice)
    assert by_name["big.wav"]["id"] == record["media_id"]
    assert by_name["big.wav"]["sha256"] == sha256(files["big"])
    assert _unfinished_uploads(admin_storage, [m["id"] for m in by_name.values()]) == []


def test_an_expired_upload_the_server_no_longer_has_is_sent_again(
    client_stack: ClientStack,
    make_user: MakeUser,
    services: Services,
    admin_storage: Storage,
    tmp_path: Path,
) -> None:
    alice = make_user()
    files = _folder(tmp_path)
    home = tmp_path / "home"
    record = _interrupt_and_expire(client_stack, alice, home, files["big"], tmp_path)
    # Given up meanwhile (as by an abort from elsewhere): no fresh URLs for it.
    media_id = record["media_id"]
    admin_storage.abort_multipart(f"uploads/{media_id}", record["upload"]["upload_id"])
    with services.pool.connection() as conn:
        conn.execute("DELETE FROM media WHERE id = %s", (media_id,))

    rerun = client_stack.run(alice, home, "upload", str(tmp_path / "album"), "-r", "--wait")

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    by_name = _all_ready(client_stack, alice)
    assert by_name["big.wav"]["id"] != media_id  # a new upload, sent whole
    assert by_name["big.wav"]["sha256"] == sha256(files["big"])
    # The summary rounds to three digits.
    assert _sent_bytes(rerun.stdout) >= files["big"].stat().st_size * 0.99
    assert _unfinished_uploads(admin_storage, [media_id]) == []
    assert _unfinished_uploads(admin_storage, [m["id"] for m in by_name.values()]) == []
