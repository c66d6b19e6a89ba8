"""`mediavault dev` restarts a crashed process and keeps serving; Ctrl-C still stops it all."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from mediavault.devstack.guard import in_use
from mediavault.devstack.services import (
    function_specs,
    infrastructure,
    remove_postgres_cluster,
    url_ok,
    worker_spec,
)
from mediavault.devstack.supervisor import Backoff
from tests.client_fixtures import photo
from tests.devstack_fixtures import (
    MEDIAVAULT,
    DevStack,
    alive,
    dev_environment,
    left_behind,
    start_dev,
)
from tests.harness import binaries, layout_for, make_shared_dir, poll

# Killed one after the other in the same stack: the infrastructure, the worker and a function.
KILLED = ("worker", "nsqd", "minio", "postgres", "fn-media")


def test_restarts_back_off_from_half_a_second_to_thirty_and_start_over_once_stable() -> None:
    backoff = Backoff()
    delays, delay = [], None
    for _ in range(9):
        delay = backoff.next_delay(delay, uptime=1.0)
        delays.append(delay)
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff.next_delay(30.0, uptime=60.0) == 0.5  # it had been up a minute


@pytest.fixture(scope="module")
def dev() -> Iterator[DevStack]:
    """One `mediavault dev` for the module, up and initialised, stopped and removed after."""
    root = Path(__file__).resolve().parent.parent
    assert (root / "web" / "build" / "index.html").is_file(), "make test builds web/ first"
    base = make_shared_dir("mediavault-recovery-")
    env = dev_environment(base / ".dev")
    layout = layout_for(env)
    log = base / "dev.log"
    process = start_dev(env, log)
    stack = DevStack(process, log, env, layout)
    try:
        poll(
            lambda: process.poll() is not None or "MediaVault is up" in stack.output(),
            "the stack's banner",
            240,
        )
        assert process.poll() is None, stack.output()[-3000:]
        yield stack
    finally:
        stack.interrupt()
        remove_postgres_cluster(layout)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def token(dev: DevStack) -> str:
    """An API token for alice, as the README has a developer create one."""
    created = subprocess.run(
        [MEDIAVAULT, "token", "create", "--user", "alice"], env=dev.env,
        capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    return created.stdout.strip()


def _checks(dev: DevStack) -> dict[str, Callable[[], bool]]:
    """How to tell each killed process is back: its port answers."""
    tools = binaries()
    specs = [
        *infrastructure(dev.layout, tools),
        *function_specs(dev.layout, tools),
        worker_spec(dev.layout, tools),
    ]
    urls = {spec.name: spec.ready_url for spec in specs if spec.ready_url is not None}
    db = dev.layout.settings.database
    conninfo = psycopg.conninfo.make_conninfo(
        host=db.host, port=db.port, user=db.user, password=db.password, dbname=db.name
    )

    def postgres() -> bool:
        try:
            psycopg.connect(conninfo, connect_timeout=2).close()
        except psycopg.OperationalError:
            return False
        return True

    return {
        "postgres": postgres,
        **{name: (lambda url=url: url_ok(url)) for name, url in urls.items()},  # type: ignore[misc]
    }


@pytest.mark.parametrize("name", KILLED)
def test_a_killed_process_is_restarted_and_the_rest_stays_up(
    dev: DevStack, token: str, name: str
) -> None:
    before = dev.pids()
    assert before.keys() >= {*KILLED, "gateway", "nsqlookupd", "reconcile"}, before
    assert all(alive(pid) for pid in before.values()), before

    os.kill(before[name], signal.SIGKILL)  # a crash: nothing is cleaned up
    poll(
        lambda: dev.process.poll() is not None or dev.pids()[name] != before[name],
        f"{name} started again",
        120,
    )
    assert dev.process.poll() is None, dev.output()[-3000:]
    back = _checks(dev)[name]
    poll(back, f"{name} answering again", 120)

    after = dev.pids()
    assert alive(after[name])
    others = {n: pid for n, pid in before.items() if n != name}
    assert {n: after[n] for n in others} == others, "only the killed process was restarted"
    assert all(alive(pid) for pid in others.values())
    assert re.search(rf"{name} exited \(rc=-9\)[^\n]*restart", dev.output())
    # The API serves again: at once, or after a few 503s while its pool sees the database back.
    answers: list[httpx.Response] = []
    poll(lambda: _list_media(dev, token, answers).status_code == 200, "GET /api/media", 30)
    assert {a.status_code for a in answers} <= {200, 503}, [a.text for a in answers]


def _list_media(dev: DevStack, token: str, answers: list[httpx.Response]) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"}
    answer = httpx.get(dev.env["API_BASE_URL"] + "/api/media", headers=headers, timeout=30)
    answers.append(answer)
    return answer


def test_after_the_kills_an_upload_is_processed(dev: DevStack, token: str, tmp_path: Path) -> None:
    picture = photo(tmp_path / "after-the-crashes.jpg")
    env = {"HOME": str(tmp_path), "PATH": dev.env["PATH"], "LANG": "C.UTF-8",
           "MEDIAVAULT_URL": dev.env["API_BASE_URL"], "MEDIAVAULT_TOKEN": token}  # fmt: skip
    upload = subprocess.run(
        [MEDIAVAULT, "upload", str(picture), "--wait"], env=env,
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert upload.returncode == 0, upload.stdout + upload.stderr
    media = httpx.get(
        dev.env["API_BASE_URL"] + "/api/media",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    ).json()["items"]
    [item] = [m for m in media if m["filename"] == picture.name]
    assert item["status"] == "ready", item


def test_ctrl_c_stops_every_process_it_ever_started(dev: DevStack) -> None:
    started = [int(pid) for pid in re.findall(r"started \(pid=(\d+)\)", dev.output())]
    assert len(started) > len(dev.pids()), "restarted processes are in the log too"

    assert dev.interrupt() == 130  # as a shell reports a Ctrl-C'd command
    assert not left_behind(started)
    busy = [f"{what} {host}:{port}" for what, (host, port) in dev.layout.ports().items()
            if in_use(host, port)]  # fmt: skip
    assert not busy, busy
