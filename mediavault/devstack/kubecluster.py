"""A throwaway Kubernetes API server on loopback: etcd, the control plane and kwok's fake node.

Nothing here needs a container runtime: kwok plays the kubelet of one fake node, so pods are
scheduled, become ready, and pods of Jobs complete, as its stage files say.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from mediavault.devstack.kubecerts import KubeCerts, make_certs
from mediavault.devstack.kubeprocs import log_tail, save_pids, start_process, stop_processes
from mediavault.devstack.services import wait_until
from mediavault.errors import ConfigError, MediaVaultError

NODE_NAME = "kwok-node-0"
# Addresses nothing ever connects to: pods and Services exist only as API objects. Documentation
# and benchmarking ranges, so that no stray connection could reach a real network.
POD_CIDR = "198.51.100.0/24"
NODE_IP = "192.0.2.10"
SERVICE_CIDR = "198.18.0.0/16"
# kwok's volume stages bind the claims of this class (the default class of the cluster).
STORAGE_CLASS = "kwok-volume"
# Longer than any `kubectl wait` or namespace deletion this module asks for.
KUBECTL_TIMEOUT_SECONDS = 180


@dataclass(frozen=True)
class KubeTools:
    """The programs of the throwaway cluster, built by scripts/build_kube_tools.sh."""

    etcd: Path
    apiserver: Path
    controller_manager: Path
    scheduler: Path
    kwok: Path
    kubectl: Path
    stages_dir: Path

    @classmethod
    def locate(cls, tools_dir: Path) -> KubeTools:
        """Find every program; ConfigError names what is missing and how to get it."""
        bin_dir = tools_dir / "bin"
        tools = cls(
            etcd=bin_dir / "etcd",
            apiserver=bin_dir / "kube-apiserver",
            controller_manager=bin_dir / "kube-controller-manager",
            scheduler=bin_dir / "kube-scheduler",
            kwok=bin_dir / "kwok",
            kubectl=bin_dir / "kubectl",
            stages_dir=tools_dir / "kwok-stages",
        )
        wanted = [
            tools.etcd, tools.apiserver, tools.controller_manager, tools.scheduler, tools.kwok,
            tools.kubectl, tools.stages_dir,
        ]  # fmt: skip
        missing = [str(path) for path in wanted if not path.exists()]
        if missing:
            raise ConfigError(
                "MEDIAVAULT_TOOLS_DIR", f"missing {', '.join(missing)}: run scripts/install.sh"
            )
        return tools


@dataclass(frozen=True)
class KubeCluster:
    """A running throwaway cluster: where it keeps its files and how to reach it."""

    base_dir: Path
    server: str
    kubeconfig: Path
    certs: KubeCerts
    tools: KubeTools

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        """Run kubectl against this cluster; MediaVaultError with its message on failure."""
        try:
            result = subprocess.run(
                [str(self.tools.kubectl), f"--kubeconfig={self.kubeconfig}", *args],
                input=stdin,
                capture_output=True,
                text=True,
                check=False,
                timeout=KUBECTL_TIMEOUT_SECONDS,
            )
        except subprocess.TimeoutExpired:
            raise MediaVaultError(f"kubectl {' '.join(args)}: no answer in time") from None
        if result.returncode != 0:
            raise MediaVaultError(f"kubectl {' '.join(args)}: {result.stderr.strip()}")
        return result.stdout

    def apply(self, documents: str) -> None:
        """Server-side apply of YAML or JSON documents as the cluster admin."""
        self.kubectl("apply", "--server-side", "--field-manager=mediavault-kube", "-f", "-",
                     stdin=documents)  # fmt: skip

    @contextmanager
    def client(self) -> Iterator[httpx.Client]:
        """An HTTP client of the API server, authenticated as the cluster admin."""
        context = ssl.create_default_context(cafile=str(self.certs.ca_cert))
        context.load_cert_chain(str(self.certs.admin_cert), str(self.certs.admin_key))
        with httpx.Client(base_url=self.server, verify=context, timeout=10.0) as client:
            yield client

    def get(self, path: str) -> dict[str, Any] | None:
        """GET an API path as the admin: the object, or None when it does not exist."""
        with self.client() as client:
            response = client.get(path)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        body: dict[str, Any] = response.json()
        return body


def free_port() -> int:
    """A loopback TCP port nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _write_kubeconfig(path: Path, server: str, certs: KubeCerts) -> None:
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "mediavault-throwaway",
                "cluster": {"server": server, "certificate-authority": str(certs.ca_cert)},
            }
        ],
        "users": [
            {
                "name": "admin",
                "user": {
                    "client-certificate": str(certs.admin_cert),
                    "client-key": str(certs.admin_key),
                },
            }
        ],
        "contexts": [
            {"name": "mediavault-throwaway", "context": {"cluster": "mediavault-throwaway",
                                                         "user": "admin"}}
        ],
        "current-context": "mediavault-throwaway",
    }  # fmt: skip
    # kubectl, client-go and the Python client all read JSON kubeconfigs.
    path.write_text(json.dumps(config, indent=2))
    path.chmod(0o600)


def _control_plane(tools: KubeTools, base: Path, certs: KubeCerts) -> list[tuple[str, list[str]]]:
    """(name, argv) of each process, in start order; every port is a free loopback port."""
    etcd_client, etcd_peer, apiserver, kwok_port = (free_port() for _ in range(4))
    kubeconfig = base / "kubeconfig"
    etcd_url, peer_url = f"http://127.0.0.1:{etcd_client}", f"http://127.0.0.1:{etcd_peer}"
    stages = base / "kwok-stages.yaml"
    return [
        ("etcd", [
            str(tools.etcd), "--name=throwaway", f"--data-dir={base / 'etcd'}",
            f"--listen-client-urls={etcd_url}", f"--advertise-client-urls={etcd_url}",
            f"--listen-peer-urls={peer_url}", f"--initial-advertise-peer-urls={peer_url}",
            f"--initial-cluster=throwaway={peer_url}", "--log-level=warn",
            # Thrown away afterwards: no fsync (a test's writes need not survive a power cut).
            "--unsafe-no-fsync=true",
        ]),
        ("kube-apiserver", [
            str(tools.apiserver), f"--etcd-servers={etcd_url}",
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1",
            f"--secure-port={apiserver}", f"--cert-dir={base / 'apiserver'}",
            f"--tls-cert-file={certs.server_cert}", f"--tls-private-key-file={certs.server_key}",
            f"--client-ca-file={certs.ca_cert}", "--authorization-mode=RBAC",
            f"--service-account-key-file={certs.service_account_pub}",
            f"--service-account-signing-key-file={certs.service_account_key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            # No Endpoints for the apiserver itself: 127.0.0.1 is not a valid endpoint address.
            "--endpoint-reconciler-type=none", "--profiling=false",
        ]),
        ("kube-controller-manager", [
            str(tools.controller_manager), f"--kubeconfig={kubeconfig}",
            "--leader-elect=false", "--secure-port=0", "--use-service-account-credentials=false",
            f"--root-ca-file={certs.ca_cert}",
            f"--service-account-private-key-file={certs.service_account_key}",
            # The node lifecycle controller lifts the not-ready taint of the new node once kwok
            # reports it Ready, and kwok's lease renewals keep it so.
        ]),
        ("kube-scheduler", [
            str(tools.scheduler), f"--kubeconfig={kubeconfig}", "--leader-elect=false",
            "--secure-port=0",
        ]),
        ("kwok", [
            str(tools.kwok), f"--kubeconfig={kubeconfig}", f"--config={stages}",
            "--manage-all-nodes=true", f"--server-address=127.0.0.1:{kwok_port}",
            f"--cidr={POD_CIDR}", f"--node-ip={NODE_IP}",
            # Heartbeats through the node's lease, as a kubelet does: the node stays Ready.
            "--node-lease-duration-seconds=40",
        ]),
    ]  # fmt: skip


def _stage_documents(tools: KubeTools, extra_stages: Iterable[Path]) -> str:
    """kwok's own stage files (node, pod, volume) and any extra ones, as one YAML stream."""
    files = sorted(tools.stages_dir.glob("*.yaml"))
    texts = [path.read_text() for path in [*files, *extra_stages]]
    return "\n---\n".join(text for text in texts if "kind: Stage" in text)


def _serving(cluster: KubeCluster) -> bool:
    """The API server answers its readiness check."""
    try:
        with cluster.client() as client:
            return client.get("/readyz").status_code == 200
    except (httpx.HTTPError, OSError):
        return False


def _ready(cluster: KubeCluster, path: str, check: str = "") -> bool:
    try:
        body = cluster.get(path)
    except (httpx.HTTPError, ssl.SSLError, OSError):
        return False
    if body is None:
        return False
    if not check:
        return True
    conditions = body.get("status", {}).get("conditions", [])
    return any(c.get("type") == check and c.get("status") == "True" for c in conditions)


def _schedulable(cluster: KubeCluster) -> bool:
    """The fake node is Ready and the controllers have lifted its not-ready taint."""
    if not _ready(cluster, f"/api/v1/nodes/{NODE_NAME}", "Ready"):
        return False
    node = cluster.get(f"/api/v1/nodes/{NODE_NAME}") or {}
    return not node.get("spec", {}).get("taints")


def _cluster_objects() -> str:
    """The fake node and the default StorageClass that kwok's volume stages serve."""
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": NODE_NAME,
            "labels": {
                "kubernetes.io/hostname": NODE_NAME,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "type": "kwok",
            },
        },
    }
    storage_class = {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": STORAGE_CLASS,
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
        },
        "provisioner": "kwok.x-k8s.io/volume",
        "reclaimPolicy": "Delete",
        "volumeBindingMode": "Immediate",
    }
    return json.dumps({"apiVersion": "v1", "kind": "List", "items": [node, storage_class]})


def start_cluster(
    tools: KubeTools,
    base_dir: Path,
    *,
    extra_stages: Sequence[Path] = (),
    deadline_seconds: float = 90.0,
) -> KubeCluster:
    """Start etcd, the control plane and kwok in `base_dir`; return once the node is Ready."""
    base = base_dir.resolve()
    (base / "logs").mkdir(parents=True, exist_ok=True)
    certs = make_certs(base / "pki")
    (base / "kwok-stages.yaml").write_text(_stage_documents(tools, extra_stages))
    processes = _control_plane(tools, base, certs)
    apiserver_argv = dict(processes)["kube-apiserver"]
    port = next(a.split("=")[1] for a in apiserver_argv if a.startswith("--secure-port="))
    cluster = KubeCluster(base, f"https://127.0.0.1:{port}", base / "kubeconfig", certs, tools)
    _write_kubeconfig(cluster.kubeconfig, cluster.server, certs)
    pids: dict[str, int] = {}
    try:
        for name, argv in processes:
            pids[name] = start_process(name, argv, base)
            save_pids(base, pids)
            if name == "kube-apiserver":
                wait_until(lambda: _serving(cluster), deadline_seconds, "kube-apiserver")
        cluster.apply(_cluster_objects())
        # The controllers made the default ServiceAccount, kwok made the node Ready.
        wait_until(
            lambda: _ready(cluster, "/api/v1/namespaces/default/serviceaccounts/default"),
            deadline_seconds,
            "kube-controller-manager (the default ServiceAccount)",
        )
        wait_until(lambda: _schedulable(cluster), deadline_seconds, "kwok (node Ready, untainted)")
    except BaseException as error:
        tail = log_tail(base)
        stop_processes(base)
        if isinstance(error, MediaVaultError | OSError):
            raise MediaVaultError(
                f"the throwaway cluster did not start: {error}\n{tail}"
            ) from error
        raise
    return cluster


def stop_cluster(base_dir: Path) -> None:
    """Stop the cluster kept in `base_dir` (its processes, by pid); its files stay."""
    stop_processes(base_dir)
