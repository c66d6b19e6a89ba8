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


def test_an_interrupted_upload_whose_urls_expired_is_aborted_and_sent_again(
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
        client_stack, alice, home, files["big"], tmp_path, signal.SIGINT
    )
    assert status == 130  # Ctrl-C: stopped cleanly, between two chunks
    # As if the run had been left for hours: its presigned URLs are no good any more.
    database = home / ".local" / "state" / "mediavault" / "uploads.sqlite3"
    expired = {**record["upload"], "expires_at": "2020-01-01T00:00:00+00:00"}
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE uploads SET upload = ? WHERE media_id = ?",
                     (json.dumps(expired), record["media_id"]))  # fmt: skip

    rerun = client_stack.run(alice, home, "upload", str(tmp_path / "album"), "-r", "--wait")

    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    media = all_media(client_stack, alice)
    assert sorted(m["filename"] for m in media) == ["a.jpg", "b.jpg", "big.wav", "c.png"]
    assert all(m["status"] == "ready" for m in media), [
        (m["filename"], m["status"], m["error"]) for m in media
    ]
    # The stale upload was given up, parts and row, not left to linger for a day.
    assert record["media_id"] not in {m["id"] for m in media}
    with services.pool.connection() as conn:
        gone = conn.execute("SELECT 1 FROM media WHERE id = %s", (record["media_id"],)).fetchone()
    assert gone is None
    assert _unfinished_uploads(admin_storage, [record["media_id"]]) == []
    assert _unfinished_uploads(admin_storage, [m["id"] for m in media]) == []
