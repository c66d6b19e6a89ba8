"""Bytes that change after the client hashed them: storage or the worker refuses them."""

from __future__ import annotations

import os
from pathlib import Path

from mediavault.services import Services
from tests.api_fixtures import MakeUser
from tests.client_fixtures import (
    ClientStack,
    all_media,
    lines_with,
    photo,
    resume_record,
    sha256,
    wav,
)
from tests.harness import poll


def _flip(path: Path, offset: int) -> None:
    """Change one byte in place, keeping the size and the modification time."""
    times = path.stat()
    with path.open("r+b") as file:
        file.seek(offset)
        byte = file.read(1)
        file.seek(offset)
        file.write(bytes([byte[0] ^ 0xFF]))
    os.utime(path, ns=(times.st_atime_ns, times.st_mtime_ns))


def test_files_changed_after_hashing_are_refused_and_sent_right_next_time(
    client_stack: ClientStack, make_user: MakeUser, services: Services, tmp_path: Path
) -> None:
    alice = make_user()
    home = tmp_path / "home"
    big = wav(tmp_path / "in" / "1-big.wav", seconds=65)  # ~12 MiB: three parts
    small = photo(tmp_path / "in" / "2-small.jpg", "purple", "320x240")
    client = client_stack.start(alice, home, "upload", str(tmp_path / "in"), "--wait",
                                "--concurrency", "1", "--limit-rate", "2M")  # fmt: skip
    try:
        poll(lambda: client.poll() is not None
             or len((resume_record(home, big) or {}).get("parts", {})) >= 1,
             "the first part of the big file stored", 120)  # fmt: skip
        assert client.poll() is None, client.communicate()
        # Both were hashed at the start; now their bytes change under the client's feet.
        _flip(small, small.stat().st_size // 2)
        _flip(big, big.stat().st_size - 100)  # in the last part, not sent yet
        out, err = client.communicate(timeout=300)
    finally:
        if client.poll() is None:
            client.kill()
            client.wait(10)

    assert client.returncode == 1, out + err
    assert "done: 0 uploaded, 0 skipped as duplicates, 1 refused, 1 failed" in out, out
    [failed] = [line for line in lines_with(out, "failed") if "2-small.jpg" in line]
    assert "changed after it was hashed" in failed  # storage refused the signed checksum
    [refused] = [line for line in lines_with(out, "refused") if "1-big.wav" in line]
    assert "checksum mismatch" in refused  # each part was whole; the file was not
    with services.pool.connection() as conn:
        rows = conn.execute(
            "SELECT filename, status, error, upload_key, original_key FROM media"
            " WHERE owner_id = %s",
            (alice.id,),
        ).fetchall()
    # The refused upload's bytes are gone; the one storage refused was aborted by the client.
    assert [(r["filename"], r["status"], r["upload_key"], r["original_key"]) for r in rows] == [
        ("1-big.wav", "failed", None, None)
    ]

    rerun = client_stack.run(alice, home, "upload", str(tmp_path / "in"), "--wait")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    ready = {m["filename"]: m for m in all_media(client_stack, alice) if m["status"] == "ready"}
    assert ready["1-big.wav"]["sha256"] == sha256(big)
    assert ready["2-small.jpg"]["sha256"] == sha256(small)
