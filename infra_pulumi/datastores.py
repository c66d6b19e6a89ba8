"""PostgreSQL and MinIO: StatefulSets with their volumes and Services."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_kubernetes as k8s

from infra_pulumi import kube
from infra_pulumi.accounts import MINIO_ROOT_SECRET
from infra_pulumi.appconfig import (
    MINIO_PORT,
    MINIO_SERVICE,
    NSQ_TOPIC,
    NSQD_SERVICE,
    NSQD_TCP_PORT,
    POSTGRES_SERVICE,
)
from infra_pulumi.settings import StackSettings

POSTGRES_UID = 999  # the postgres user of the official image
MINIO_DATA = "/var/lib/minio"


@dataclass(frozen=True)
class DataStoresArgs:
    """Inputs of DataStores."""

    settings: StackSettings


def _claim(name: str, size: str, storage_class: str) -> k8s.core.v1.PersistentVolumeClaimArgs:
    return k8s.core.v1.PersistentVolumeClaimArgs(
        metadata=k8s.meta.v1.ObjectMetaArgs(name=name),
        spec=k8s.core.v1.PersistentVolumeClaimSpecArgs(
            access_modes=["ReadWriteOnce"],
            storage_class_name=storage_class or None,
            resources=k8s.core.v1.VolumeResourceRequirementsArgs(requests={"storage": size}),
        ),
    )


def service(
    resource_name: str,
    name: str,
    ns: str,
    component: str,
    *,
    ports: dict[str, int],
    opts: pulumi.ResourceOptions,
    headless: bool = False,
) -> k8s.core.v1.Service:
    """A Service selecting one component's pods, ports named after their container ports."""
    return k8s.core.v1.Service(
        resource_name,
        metadata=kube.meta(name, ns, component),
        spec=k8s.core.v1.ServiceSpecArgs(
            selector=kube.selector(component),
            cluster_ip="None" if headless else None,
            # Peers find each other by per-pod DNS before they are ready.
            publish_not_ready_addresses=True if headless else None,
            ports=[
                k8s.core.v1.ServicePortArgs(name=port_name, port=port, target_port=port_name)
                for port_name, port in ports.items()
            ],
        ),
        opts=opts,
    )


@dataclass(frozen=True)
class StatefulPod:
    """One single-replica stateful component: its container, volume size and pod user."""

    component: str
    name: str
    container: k8s.core.v1.ContainerArgs
    storage: str
    uid: int = kube.NON_ROOT_UID
    tmp: bool = False
    governing_service: str = ""  # the Service giving pods their DNS names; default: name


def stateful_set(
    resource_name: str, pod: StatefulPod, s: StackSettings, opts: pulumi.ResourceOptions
) -> k8s.apps.v1.StatefulSet:
    """A one-replica StatefulSet with a `data` volume claim, non-root, no API token."""
    return k8s.apps.v1.StatefulSet(
        resource_name,
        metadata=kube.meta(pod.name, s.namespace, pod.component),
        spec=k8s.apps.v1.StatefulSetSpecArgs(
            service_name=pod.governing_service or pod.name,
            replicas=1,
            selector=k8s.meta.v1.LabelSelectorArgs(match_labels=kube.selector(pod.component)),
            template=k8s.core.v1.PodTemplateSpecArgs(
                metadata=k8s.meta.v1.ObjectMetaArgs(labels=kube.labels(pod.component)),
                spec=k8s.core.v1.PodSpecArgs(
                    security_context=kube.pod_security(pod.uid),
                    automount_service_account_token=False,
                    containers=[pod.container],
                    volumes=[kube.tmp_volume()[0]] if pod.tmp else None,
                ),
            ),
            volume_claim_templates=[_claim("data", pod.storage, s.storage.storage_class)],
        ),
        opts=opts,
    )


class DataStores(pulumi.ComponentResource):
    """PostgreSQL (unless external) and MinIO with its NSQ notification target."""

    postgres: k8s.apps.v1.StatefulSet | None
    minio: k8s.apps.v1.StatefulSet

    def __init__(
        self, name: str, args: DataStoresArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("mediavault:infra:DataStores", name, None, opts)
        self.postgres = self._postgres(args.settings) if args.settings.in_cluster_database else None
        self.minio = self._minio(args.settings)
        self.register_outputs(
            {"postgres": POSTGRES_SERVICE if self.postgres else None, "minio": MINIO_SERVICE}
        )

    def _postgres(self, s: StackSettings) -> k8s.apps.v1.StatefulSet:
        ns, child = s.namespace, pulumi.ResourceOptions(parent=self)
        service("postgres", POSTGRES_SERVICE, ns, "postgres", ports={"postgres": 5432}, opts=child)
        container = k8s.core.v1.ContainerArgs(
            name="postgres",
            image=s.images.postgres,
            image_pull_policy=s.images.pull_policy,
            ports=[k8s.core.v1.ContainerPortArgs(name="postgres", container_port=5432)],
            env=[
                kube.secret_env("POSTGRES_USER"),
                kube.secret_env("POSTGRES_PASSWORD"),
                kube.config_env("POSTGRES_DB"),
                # A subdirectory: the volume's root may hold lost+found, which initdb refuses.
                k8s.core.v1.EnvVarArgs(name="PGDATA", value="/var/lib/postgresql/data/pgdata"),
            ],
            readiness_probe=k8s.core.v1.ProbeArgs(
                exec_=k8s.core.v1.ExecActionArgs(
                    command=["sh", "-c", 'pg_isready -U "$POSTGRES_USER" -h 127.0.0.1']
                ),
                period_seconds=10,
                timeout_seconds=5,
            ),
            liveness_probe=k8s.core.v1.ProbeArgs(
                tcp_socket=k8s.core.v1.TCPSocketActionArgs(port="postgres"),
                initial_delay_seconds=30,
                period_seconds=20,
            ),
            resources=kube.resources("250m", "512Mi", "2", "2Gi"),
            # The entrypoint writes its socket under /var/run/postgresql: not read-only.
            security_context=kube.container_security(POSTGRES_UID, read_only_root=False),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="data", mount_path="/var/lib/postgresql/data")
            ],
        )
        pod = StatefulPod("postgres", POSTGRES_SERVICE, container, s.storage.postgres, POSTGRES_UID)
        return stateful_set("postgres", pod, s, pulumi.ResourceOptions(parent=self))

    def _minio(self, s: StackSettings) -> k8s.apps.v1.StatefulSet:
        ns, child = s.namespace, pulumi.ResourceOptions(parent=self)
        service("minio", MINIO_SERVICE, ns, "minio", ports={"s3": MINIO_PORT}, opts=child)
        env = [
            # Its root account: seen by MinIO and the init Job alone.
            kube.secret_env("MINIO_ROOT_USER", secret=MINIO_ROOT_SECRET),
            kube.secret_env("MINIO_ROOT_PASSWORD", secret=MINIO_ROOT_SECRET),
            k8s.core.v1.EnvVarArgs(name="MINIO_UPDATE", value="off"),
            # The root filesystem is read-only: MinIO's config/certs directory goes to /tmp.
            k8s.core.v1.EnvVarArgs(name="HOME", value="/tmp"),
            # The console is never published; switch it off rather than leave it listening.
            k8s.core.v1.EnvVarArgs(name="MINIO_BROWSER", value="off"),
            k8s.core.v1.EnvVarArgs(name="MINIO_NOTIFY_NSQ_ENABLE", value="on"),
            k8s.core.v1.EnvVarArgs(
                name="MINIO_NOTIFY_NSQ_NSQD_ADDRESS", value=f"{NSQD_SERVICE}:{NSQD_TCP_PORT}"
            ),
            k8s.core.v1.EnvVarArgs(name="MINIO_NOTIFY_NSQ_TOPIC", value=NSQ_TOPIC),
            # On the volume: events wait there through an NSQ outage and a pod restart.
            k8s.core.v1.EnvVarArgs(name="MINIO_NOTIFY_NSQ_QUEUE_DIR", value=f"{MINIO_DATA}/events"),
        ]
        container = k8s.core.v1.ContainerArgs(
            name="minio",
            image=s.images.minio,
            image_pull_policy=s.images.pull_policy,
            args=["server", f"{MINIO_DATA}/data", "--address", f":{MINIO_PORT}", "--quiet"],
            ports=[k8s.core.v1.ContainerPortArgs(name="s3", container_port=MINIO_PORT)],
            env=env,
            readiness_probe=kube.http_probe("/minio/health/ready", "s3"),
            liveness_probe=kube.http_probe("/minio/health/live", "s3", period=20),
            resources=kube.resources("250m", "512Mi", "2", "2Gi"),
            security_context=kube.container_security(),
            volume_mounts=[
                k8s.core.v1.VolumeMountArgs(name="data", mount_path=MINIO_DATA),
                kube.tmp_volume()[1],
            ],
        )
        pod = StatefulPod("minio", MINIO_SERVICE, container, s.storage.minio, tmp=True)
        return stateful_set("minio", pod, s, child)
