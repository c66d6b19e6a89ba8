"""`mediavault dev`: the whole local stack, initialised, restarted as needed, until Ctrl-C."""

from __future__ import annotations

import logging
import os
import sys
import threading
from dataclasses import replace
from typing import TYPE_CHECKING

from mediavault.devstack.guard import only_stack
from mediavault.devstack.services import (
    dev_oauth_spec,
    ensure_database,
    function_specs,
    gateway_spec,
    infrastructure,
    init_postgres_cluster,
    postgres_data_dir,
    reconcile_spec,
    runtime_dir,
    wait_ready,
    wait_until,
    worker_spec,
)
from mediavault.devstack.supervisor import Supervisor, printer_to_stdout
from mediavault.provision import initialize
from mediavault.routes import FUNCTIONS

if TYPE_CHECKING:
    from pathlib import Path

    from mediavault.devstack.layout import Binaries, StackLayout
    from mediavault.devstack.services import ServiceSpec

logger = logging.getLogger(__name__)

# Written in the data directory once `init` is done; what the worker and reconcile wait for.
INITIALISED = "initialised"


def run_dev_stack(layout: StackLayout, binaries: Binaries) -> int:
    """Start every process, initialise once they are up, and wait; the exit code of the stack."""
    with only_stack(layout):
        return _run(layout, binaries)


def _run(layout: StackLayout, binaries: Binaries) -> int:
    if init_postgres_cluster(layout, binaries):
        logger.info("created PostgreSQL cluster in %s", postgres_data_dir(layout))
    infra = _nsqd_after_nsqlookupd(infrastructure(layout, binaries))
    oauth = dev_oauth_spec(layout, binaries)
    if oauth is not None:
        # No Discord application configured: sign-in goes to the development provider.
        infra.append(oauth)
    initialised = layout.data_dir / INITIALISED
    initialised.unlink(missing_ok=True)
    worker = _after_init(worker_spec(layout, binaries), initialised)
    for name in FUNCTIONS:
        runtime_dir(layout, name).mkdir(mode=0o700, parents=True, exist_ok=True)
    functions = [*function_specs(layout, binaries), worker]
    reconcile = _after_init(reconcile_spec(layout, binaries), initialised)
    specs = [*infra, *functions, reconcile, gateway_spec(layout, binaries)]
    supervisor = Supervisor(specs, os.environ, printer_to_stdout())
    watcher = threading.Thread(
        target=_initialise_then_announce,
        args=(layout, infra, functions, supervisor),
        daemon=True,
    )
    watcher.start()
    return supervisor.run()


def _after_init(spec: ServiceSpec, marker: Path) -> ServiceSpec:
    """The same process, started once the stack is initialised (it reads the tables)."""
    return _start_after(spec, "--file", str(marker))


def _start_after(spec: ServiceSpec, *condition: str) -> ServiceSpec:
    wait = (sys.executable, "-m", "mediavault.devstack.start_after", *condition, "--")
    return replace(spec, argv=(*wait, *spec.argv))


def _nsqd_after_nsqlookupd(infra: list[ServiceSpec]) -> list[ServiceSpec]:
    """nsqd waits for nsqlookupd to answer, so it registers at once (see start_after)."""
    [lookupd] = [spec for spec in infra if spec.name == "nsqlookupd"]
    assert lookupd.ready_url is not None
    return [
        _start_after(spec, "--url", lookupd.ready_url) if spec.name == "nsqd" else spec
        for spec in infra
    ]


def _initialise_then_announce(
    layout: StackLayout,
    infra: list[ServiceSpec],
    functions: list[ServiceSpec],
    supervisor: Supervisor,
) -> None:
    try:
        ensure_database(layout)
        for spec in infra:
            wait_ready(spec)
        report = initialize(layout.settings, layout.provision)
        logger.info(
            "initialised: %d migrations applied, bucket %s",
            len(report.migrations_applied),
            "created" if report.bucket_created else "present",
        )
        (layout.data_dir / INITIALISED).write_text(f"{os.getpid()}\n")
        for spec in functions:
            wait_ready(spec)
        host, port = layout.gateway_address
        gateway = f"http://{host}:{port}"
        wait_until(lambda: _answers(gateway), 30, "the gateway")
    except Exception:
        logger.exception("the local stack did not come up; stopping it")
        supervisor.stop(1)
        return
    signin = (
        '  Open it and press "Sign in with Discord": the development provider signs you in\n'
        "  as alice (no Discord application is configured).\n"
        if not layout.settings.auth.discord_client_id
        else "  Open it and sign in with Discord.\n"
    )
    banner = (
        f"\n  MediaVault is up at {gateway}\n"
        f"{signin}"
        f"  S3 (presigned URLs) at {layout.settings.storage.public_url}\n"
        "  Get an API token from a second terminal:\n"
        "    .venv/bin/mediavault token create --user alice\n"
        "  and send it as `Authorization: Bearer <token>` to the API.\n"
        "  Ctrl-C stops everything.\n"
    )
    print(banner, flush=True)  # noqa: T201  (the banner is for the person at the terminal)


def _answers(url: str) -> bool:
    import httpx

    try:
        httpx.get(url + "/api/auth", timeout=2.0)
    except httpx.HTTPError:
        return False
    return True
