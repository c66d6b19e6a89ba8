"""What a cold start imports: the readiness probe and a first list stay free of heavy modules.

Timings belong to bench/cold_start.py; this holds the cause in place: which modules a fresh
process has loaded once it answered.
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
seen["healthz"] = loaded()
listed = client.get("/api/media", headers={"Authorization": sys.argv[2]})
assert listed.status_code == 200, listed.data
seen["list"] = loaded()
print(json.dumps(seen))
"""


def test_healthz_and_a_first_list_import_only_what_they_use(stack: Stack, alice: ApiUser) -> None:
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
    assert seen["start"] == []
    assert seen["healthz"] == []  # the probe asks PostgreSQL as pg_isready does, no driver
    # The list needs the driver, not the request-body declarations nor the MinIO SDK.
    assert seen["list"] == ["psycopg"]
