"""What a cold start imports: nothing heavy until its first request; then all, in the background.

Timings belong to bench/cold_start.py; this holds the cause in place: which modules a fresh
process has loaded, when. That /healthz answers without waiting for them, and a first request
after one module rather than all, is tests/test_warmup.py's.
"""

from __future__ import annotations

import json
import subprocess
import sys

from tests.api_fixtures import FUNCTIONS_DIR, ApiUser
from tests.harness import Stack

PROBE = """
import json, sys
from functions_framework import create_app

WATCHED = ("psycopg", "msgspec", "minio")
loaded = lambda: sorted(name for name in WATCHED if name in sys.modules)
client = create_app("media", sys.argv[1]).test_client()
seen = {"start": loaded()}
assert client.get("/healthz").status_code == 200
listed = client.get("/api/media", headers={"Authorization": sys.argv[2]})
assert listed.status_code == 200, listed.data
assert sys.modules["main"].app.warmup.join(30)
seen["warm"] = loaded()
print(json.dumps(seen))
"""


def test_a_cold_function_imports_its_heavy_modules_only_once_asked(
    stack: Stack, alice: ApiUser
) -> None:
    source = str(FUNCTIONS_DIR / "media" / "main.py")
    authorization = alice.headers["Authorization"]
    done = subprocess.run(
        [sys.executable, "-c", PROBE, source, authorization],
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.splitlines()[-1])
    assert seen["start"] == []  # the process listens before it pays for any of them
    # Its first request (the readiness probe) started the warm-up, which imports them all.
    assert seen["warm"] == ["minio", "msgspec", "psycopg"]
