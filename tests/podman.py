"""Podman for the tests and benches: the project's containers.conf, and what is left behind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, fields
from pathlib import Path

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CONTAINERS_CONF = os.path.join(ROOT, "docker", "containers.conf")

# What `make images` builds (scripts/build_images.sh), under compose's names.
FUNCTIONS_IMAGE = "localhost/mediavault-functions:dev"
PROCESSING_IMAGE = "localhost/mediavault-processing:dev"
MINIO_IMAGE = "localhost/mediavault-minio:dev"
# The images' non-root users (docker/Dockerfile.*).
APP_UID = 10001
MINIO_UID = 65532


def podman_environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """A podman process's environment: PATH and the project's containers.conf."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/root"),
        "CONTAINERS_CONF": CONTAINERS_CONF,
        **(extra or {}),
    }


def podman(*args: str, check: bool = True, timeout: float = 300) -> str:
    """Run podman with the project's settings; its standard output."""
    result = subprocess.run(
        ["podman", *args],
        env=podman_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)}: {result.stderr.strip()}")
    return result.stdout


def podman_missing() -> str | None:
    """Why podman cannot be used here, or None."""
    for tool in ("podman", "buildah", "runc"):
        if shutil.which(tool) is None:
            return f"{tool} is missing: run `make install-test-tools` (make test does)"
    return None


def image_missing(*refs: str) -> str | None:
    """Which image `make images` has not built yet, or None."""
    for ref in refs:
        exists = subprocess.run(
            ["podman", "image", "exists", ref], env=podman_environment(), check=False
        )
        if exists.returncode != 0:
            return f"{ref} is missing: run `make images` (make test does)"
    return None


def unique_name(prefix: str) -> str:
    """A container (or project) name no other run uses."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class Inventory:
    """Everything podman and the firewall hold that a test could leave behind."""

    containers: frozenset[str]
    pods: frozenset[str]
    networks: frozenset[str]
    volumes: frozenset[str]
    firewall: frozenset[str]

    def added_since(self, before: Inventory) -> dict[str, list[str]]:
        """What this inventory has that `before` had not, by kind."""
        added = {}
        for kind in fields(self):
            new = sorted(getattr(self, kind.name) - getattr(before, kind.name))
            if new:
                added[kind.name] = new
        return added


def _names(*args: str) -> frozenset[str]:
    return frozenset(line for line in podman(*args).splitlines() if line)


# netavark's own chains and the jumps into them: set up with the first network, kept for every
# later one (as Docker keeps its DOCKER chains), so not something a test leaves behind.
NETAVARK_BASE = (
    ":NETAVARK_FORWARD", ":NETAVARK_ISOLATION_1", ":NETAVARK_ISOLATION_2",
    ":NETAVARK-HOSTPORT-DNAT", ":NETAVARK-HOSTPORT-MASQ", ":NETAVARK-HOSTPORT-SETMARK",
    "-A FORWARD -m comment --comment \"netavark firewall plugin rules\" -j NETAVARK_FORWARD",
    "-A PREROUTING -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT",
    "-A OUTPUT -m addrtype --dst-type LOCAL -j NETAVARK-HOSTPORT-DNAT",
    "-A POSTROUTING -j NETAVARK-HOSTPORT-MASQ",
    "-A NETAVARK-HOSTPORT-MASQ -m comment --comment \"netavark portfw masq mark\" -m mark"
    " --mark 0x2000/0x2000 -j MASQUERADE",
    "-A NETAVARK-HOSTPORT-SETMARK -j MARK --set-xmark 0x2000/0x2000",
)  # fmt: skip
# netavark 1.4 empties, but does not delete, a network's port-forwarding chain when the network
# goes: a fixture deletes those of its own networks (new since it started, and empty).
NETAVARK_PORT_CHAIN = ":NETAVARK-DN-"


def firewall_rules() -> frozenset[str]:
    """The firewall's rules and chains (iptables-save without counters), netavark's base aside."""
    if shutil.which("iptables-save") is None:
        return frozenset()
    saved = subprocess.run(
        ["iptables-save"], capture_output=True, text=True, check=True, timeout=60
    ).stdout
    lines = (
        line.split()[0] if line.startswith(":") else line
        for line in saved.splitlines()
        if line.startswith(("-A ", ":"))
    )
    return frozenset(line for line in lines if line not in NETAVARK_BASE)


def remove_emptied_port_chains(before: frozenset[str]) -> None:
    """Delete the port-forwarding chains netavark emptied and left since `before`."""
    now = firewall_rules()
    for chain in sorted(now - before):
        name = chain.removeprefix(":")
        if chain.startswith(NETAVARK_PORT_CHAIN) and not any(f" {name}" in r for r in now):
            subprocess.run(["iptables", "-t", "nat", "-X", name], check=False, timeout=60)


def inventory() -> Inventory:
    """What exists now."""
    return Inventory(
        containers=_names("ps", "--all", "--format", "{{.ID}} {{.Names}}"),
        pods=_names("pod", "ps", "--format", "{{.ID}}"),
        networks=_names("network", "ls", "--format", "{{.Name}}"),
        volumes=_names("volume", "ls", "--format", "{{.Name}}"),
        firewall=firewall_rules(),
    )


@contextmanager
def nothing_left_behind() -> Iterator[None]:
    """Fail when the block leaves a container, pod, network, volume or firewall rule."""
    before = inventory()
    yield
    remove_emptied_port_chains(before.firewall)
    added = inventory().added_since(before)
    assert not added, f"left behind: {added}"


def stop_conmon(prefix: str) -> list[int]:
    """SIGKILL the conmon processes of containers named PREFIX…, by pid; their pids."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"conmon") and any(a.startswith(prefix.encode()) for a in argv):
            found.append(int(entry.name))
    for pid in found:
        with suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return found


class Containers:
    """Containers one fixture runs, each removed by its id at the end."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        self.prefix = unique_name("mediavault-test")

    def run(self, image: str, *command: str, options: Sequence[str] = ()) -> str:
        """`podman run --detach`; the container's id."""
        name = f"{self.prefix}-{len(self.ids)}-{uuid.uuid4().hex[:4]}"
        container = podman("run", "--detach", f"--name={name}", *options, image, *command)
        self.ids.append(container.strip())
        return container.strip()

    def logs(self, container: str) -> str:
        """Everything the container wrote."""
        result = subprocess.run(
            ["podman", "logs", container],
            env=podman_environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return result.stdout + result.stderr

    def running(self, container: str) -> bool:
        """True while the container runs."""
        state = podman("inspect", "--format", "{{.State.Running}}", container, check=False)
        return state.strip() == "true"

    def remove(self, container: str) -> None:
        """Stop (its stop signal, then SIGKILL after 10 s) and remove one container."""
        podman("rm", "--force", "--time", "10", "--volumes", container, check=False)
        if container in self.ids:
            self.ids.remove(container)

    def remove_all(self) -> None:
        """Remove every container this object started."""
        for container in reversed(list(self.ids)):
            self.remove(container)


@contextmanager
def containers() -> Iterator[Containers]:
    """A Containers whose containers are removed at the end, also on failure."""
    made = Containers()
    try:
        yield made
    finally:
        made.remove_all()
        left = stop_conmon(made.prefix)
    assert not left, f"conmon processes left behind (killed): {left}"


def hardened(user: int) -> list[str]:
    """`podman run` options as production runs an image: non-root, read-only, /tmp writable."""
    # Host networking: the test stack's PostgreSQL, MinIO and NSQ listen on loopback only.
    return [
        f"--user={user}:{user}",
        "--read-only",
        "--read-only-tmpfs=false",
        "--tmpfs=/tmp:rw,mode=1777",
        "--cap-drop=ALL",
        "--security-opt=no-new-privileges",
        "--network=host",
    ]


def env_options(env: Mapping[str, str]) -> list[str]:
    """`--env` options for a container's settings."""
    return [f"--env={name}={value}" for name, value in sorted(env.items())]
