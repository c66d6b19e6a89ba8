"""The command-line client against curl and sha256sum, measured in the same run.

1. Hashing: the client's streamed SHA-256 of one file against `sha256sum` on the same file
   (best of three each, from the page cache).
2. 200 small photos: `mediavault upload` (hashing, announcing, PUT, complete; 8 at once) against
   curl PUTting the same files one by one to presigned URLs of the same kind (announced with the
   same checksums, so storage checks the same header). The URLs are fetched beforehand and not
   timed: curl's side is the transfer alone. A second baseline runs the whole protocol with curl
   (POST, PUT, complete), one file after the other, as a shell script would.
3. One large file (1 GiB by default, a WAV so that it is accepted): `mediavault upload` end to
   end (whole-file hash, then parts in parallel with their checksums) against curl PUTting the
   same parts (pre-split, checksums precomputed, untimed) one after the other, and 4 at a time.

Only the API's functions and the gateway run (no worker): uploads are timed, not processing.
Usage: .venv/bin/python bench/client_upload.py [--big-mib 1024] [--photos 200]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediavault.client.hashing import sha256_file  # noqa: E402
from mediavault.client.sending import send_part  # noqa: E402
from mediavault.client.transfer import Transfers  # noqa: E402
from mediavault.devstack.services import function_specs, gateway_spec  # noqa: E402
from mediavault.services import Services  # noqa: E402
from mediavault.users import create_api_token, get_or_create_local_user  # noqa: E402
from tests.harness import ProcessGroup, Stack, free_port, layout_for, poll, running_stack  # noqa: E402

MIB = 1024 * 1024
FUNCTIONS = ("auth", "presign", "media", "collections")


def answers(url: str) -> bool:
    """True once the URL answers at all."""
    try:
        httpx.get(url, timeout=2)
    except httpx.HTTPError:
        return False
    return True


def best_of(runs: int, measure: Callable[[], float]) -> float:
    """The shortest of several timings."""
    return min(measure() for _ in range(runs))


def timed(action: Callable[[], object]) -> float:
    """Seconds one action takes."""
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def wav_file(path: Path, size: int) -> Path:
    """A WAV header over `size` bytes of random PCM: accepted by MediaVault, incompressible."""
    header = b"RIFF" + struct.pack("<I", 36 + size) + b"WAVEfmt " + struct.pack(
        "<IHHIIHH", 16, 1, 2, 48000, 48000 * 4, 4, 16
    ) + b"data" + struct.pack("<I", size)  # fmt: skip
    with path.open("wb") as file:
        file.write(header)
        for _ in range(size // MIB):
            file.write(os.urandom(MIB))
    return path


def photos(directory: Path, count: int) -> list[Path]:
    """Distinct 640x480 JPEGs (frames of a moving test pattern), in one ffmpeg run."""
    directory.mkdir(parents=True)
    subprocess.run(
        ["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=640x480:rate=25",
         "-frames:v", str(count), str(directory / "photo-%03d.jpg")],
        check=True, timeout=300,
    )  # fmt: skip
    return sorted(directory.iterdir())


def hashing(path: Path) -> None:
    """The client's hash against sha256sum, same file, same run."""
    size = path.stat().st_size
    sha256sum = best_of(3, lambda: timed(lambda: subprocess.run(
        ["sha256sum", str(path)], check=True, capture_output=True)))  # fmt: skip
    client = best_of(3, lambda: timed(lambda: sha256_file(path, size)))
    print(
        f"hashing {size / MIB:.0f} MiB: client {size / MIB / client:.0f} MiB/s,"
        f" sha256sum {size / MIB / sha256sum:.0f} MiB/s -> {sha256sum / client:.2f}x"
    )


class Bench:
    """The API behind its gateway, users with tokens, and the client as a user runs it."""

    def __init__(self, stack: Stack, url: str, scratch: Path) -> None:
        self.stack = stack
        self.url = url
        self.scratch = scratch
        self.services = Services.from_settings(stack.settings)

    def token(self) -> str:
        """A new user's API token."""
        with self.services.pool.connection() as conn:
            user = get_or_create_local_user(conn, f"bench-{uuid.uuid4().hex[:8]}")
            return create_api_token(conn, user.id, "bench").token

    def client(self, token: str, *args: str) -> tuple[float, float]:
        """Seconds `mediavault upload ARGS` takes as its user runs it; and its transfer's."""
        home = self.scratch / f"home-{uuid.uuid4().hex[:6]}"
        env = {"HOME": str(home), "PATH": os.environ["PATH"], "MEDIAVAULT_URL": self.url,
               "MEDIAVAULT_TOKEN": token}  # fmt: skip
        command = [str(self.stack.binaries.python_bin / "mediavault"), "upload", *args]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        assert done.returncode == 0, done.stdout + done.stderr
        assert "0 refused, 0 failed" in done.stdout, done.stdout
        sending = re.search(r" sent in ([\d.]+) s", done.stdout)
        assert sending is not None, done.stdout
        return seconds, float(sending.group(1))

    def announce(self, token: str, path: Path, content_type: str) -> tuple[dict[str, Any], str]:
        """POST /api/uploads for a file (with its checksum); the answer and the checksum."""
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        body = {"filename": path.name, "content_type": content_type,
                "size_bytes": path.stat().st_size, "sha256": digest}  # fmt: skip
        answer = httpx.post(f"{self.url}/api/uploads", json=body, timeout=60,
                            headers={"Authorization": f"Bearer {token}"})  # fmt: skip
        assert answer.status_code == 201, answer.text
        return answer.json(), digest


def curl_put(url: str, path: Path, headers: dict[str, str]) -> list[str]:
    """The curl command that PUTs a file to a presigned URL with these headers; prints its ETag."""
    argv = ["curl", "-sS", "--fail", "-o", "/dev/null", "-w", "%header{etag}", "-X", "PUT",
            "-T", str(path)]  # fmt: skip
    for name, value in headers.items():
        argv += ["-H", f"{name}: {value}"]
    return [*argv, url]


def put_part(argv: list[str]) -> str:
    """Run one curl PUT; the ETag it printed."""
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def small_files(bench: Bench, count: int) -> None:
    """200 photos: the client (8 at once) against curl one by one."""
    files = photos(bench.scratch / "photos", count)
    total = sum(path.stat().st_size for path in files)
    client, _ = bench.client(bench.token(), str(bench.scratch / "photos"), "--concurrency", "8")

    token = bench.token()
    answers = [(path, bench.announce(token, path, "image/jpeg")[0]) for path in files]
    transfers = Transfers(connections=16)
    with ThreadPoolExecutor(8) as pool:
        ours = timed(lambda: list(pool.map(lambda job: transfers.put_file(
            job[1]["url"], job[1]["headers"], job[0], job[0].stat().st_size, lambda _: None),
            answers)))  # fmt: skip
    transfers.close()
    puts = [curl_put(answer["url"], path, answer["headers"]) for path, answer in answers]
    curl = timed(lambda: [subprocess.run(argv, check=True, capture_output=True) for argv in puts])

    token = bench.token()
    auth = f"Authorization: Bearer {token}"

    def whole_protocol() -> None:
        for path in files:
            body = json.dumps({"filename": path.name, "content_type": "image/jpeg",
                               "size_bytes": path.stat().st_size})  # fmt: skip
            out = subprocess.run(
                ["curl", "-sS", "--fail", "-X", "POST", "-H", auth, "-H",
                 "Content-Type: application/json", "-d", body, f"{bench.url}/api/uploads"],
                check=True, capture_output=True, text=True,
            ).stdout  # fmt: skip
            answer = json.loads(out)
            subprocess.run(curl_put(answer["url"], path, answer["headers"]), check=True,
                           capture_output=True)  # fmt: skip
            subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-X", "POST", "-H", auth,
                            f"{bench.url}/api/uploads/{answer['media_id']}/complete"],
                           check=True)  # fmt: skip

    protocol = timed(whole_protocol)
    print(
        f"{count} photos ({total / MIB:.1f} MiB), the same presigned URLs: the client's PUTs,"
        f" 8 at a time, {ours:.2f} s; curl one by one {curl:.2f} s -> {curl / ours:.2f}x"
    )
    print(
        f"  end to end (announce, PUT, complete): mediavault upload {client:.2f} s;"
        f" curl one file after the other {protocol:.2f} s -> {protocol / client:.2f}x"
    )


def big_file(bench: Bench, mib: int) -> None:
    """One large file: the client end to end against curl on the same parts."""
    path = wav_file(bench.scratch / "big.wav", mib * MIB)
    size = path.stat().st_size
    client, sending = bench.client(bench.token(), str(path))

    parts_dir = bench.scratch / "parts"
    parts_dir.mkdir()

    def curl_parts(parallel: int) -> float:
        token = bench.token()
        answer, _ = bench.announce(token, path, "audio/wav")
        commands = []
        with path.open("rb") as source:
            for part in answer["parts"]:
                data = source.read(part["size"])
                piece = parts_dir / f"{answer['media_id']}-{part['part_number']}"
                piece.write_bytes(data)
                checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
                commands.append(curl_put(part["url"], piece, {"x-amz-checksum-sha256": checksum}))
        complete = f"{bench.url}/api/uploads/{answer['media_id']}/complete"

        def upload() -> None:
            with ThreadPoolExecutor(parallel) as pool:
                etags = list(pool.map(put_part, commands))
            body = json.dumps({"parts": [{"part_number": n, "etag": etag}
                                         for n, etag in enumerate(etags, 1)]})  # fmt: skip
            subprocess.run(["curl", "-sS", "--fail", "-o", "/dev/null", "-X", "POST", "-H",
                            f"Authorization: Bearer {token}", "-H",
                            "Content-Type: application/json", "-d", body, complete],
                           check=True)  # fmt: skip

        seconds = timed(upload)
        shutil.rmtree(parts_dir)
        parts_dir.mkdir()
        return seconds

    sequential = curl_parts(1)
    parallel = curl_parts(4)

    # The same part URLs: the client's part path (read, hash, PUT; 4 at a time), then curl's.
    answer, _ = bench.announce(bench.token(), path, "audio/wav")
    transfers = Transfers(connections=8)
    with ThreadPoolExecutor(4) as pool:
        ours = timed(lambda: list(pool.map(lambda part: send_part(
            transfers, path, answer["part_size"], part, checksums=True, progress=lambda _: None),
            answer["parts"])))  # fmt: skip
    transfers.close()
    commands = []
    with path.open("rb") as source:
        for part in answer["parts"]:
            data = source.read(part["size"])
            piece = parts_dir / str(part["part_number"])
            piece.write_bytes(data)
            checksum = base64.b64encode(hashlib.sha256(data).digest()).decode()
            commands.append(curl_put(part["url"], piece, {"x-amz-checksum-sha256": checksum}))
    same = timed(lambda: [put_part(argv) for argv in commands])
    rate = size / MIB
    print(
        f"{mib} MiB file: client {client:.2f} s end to end ({rate / client:.0f} MiB/s: start,"
        f" whole-file hash, announce, parts with their checksums, complete), of which"
        f" {sending:.2f} s sending ({rate / sending:.0f} MiB/s)"
    )
    print(
        f"  curl, parts (checksums precomputed, untimed) + complete, one by one:"
        f" {sequential:.2f} s ({rate / sequential:.0f} MiB/s) -> client end to end"
        f" {sequential / client:.2f}x"
    )
    print(
        f"  curl, 4 parts at a time: {parallel:.2f} s ({rate / parallel:.0f} MiB/s) -> client"
        f" end to end {parallel / client:.2f}x"
    )
    print(
        f"  the same part URLs: the client's parts (read, hash, PUT; 4 at a time) {ours:.2f} s"
        f" ({rate / ours:.0f} MiB/s); curl one by one {same:.2f} s ({rate / same:.0f} MiB/s)"
        f" -> {same / ours:.2f}x"
    )


def main() -> None:
    """Start the API, run the three measurements, print the ratios."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--big-mib", type=int, default=1024)
    parser.add_argument("--photos", type=int, default=200)
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="mediavault-bench-client-"))
    try:
        hashing(wav_file(scratch / "hash.wav", args.big_mib * MIB))
        (scratch / "hash.wav").unlink()
        with running_stack("mediavault-bench-client-") as stack:
            url = f"http://127.0.0.1:{free_port()}"
            env = {**stack.env, "API_BASE_URL": url, "FRONTEND_URL": url,
                   "MEDIAVAULT_DEV_FUNCTIONS_PORT": str(free_port())}  # fmt: skip
            layout = layout_for(env)
            processes = ProcessGroup(stack.layout.data_dir, env)
            try:
                for spec in function_specs(layout, stack.binaries):
                    if spec.name.removeprefix("fn-") in FUNCTIONS:
                        processes.start(spec)
                processes.start(gateway_spec(layout, stack.binaries), wait=False)
                poll(lambda: answers(f"{url}/api/media"), "the gateway")
                bench = Bench(stack, url, scratch)
                small_files(bench, args.photos)
                big_file(bench, args.big_mib)
                bench.services.close()
            finally:
                processes.stop_all()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
