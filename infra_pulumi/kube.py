"""Small builders shared by the components: names, labels, metadata, security, resources."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pulumi_kubernetes as k8s

PART_OF = "mediavault"
CONFIG_MAP = "mediavault-config"
SECRET = "mediavault-secrets"  # noqa: S105  (the shared Secret's name; see accounts.py)
# Every pod of the stack carries this label: NetworkPolicies admit exactly these pods.
MEMBER_LABELS = {"app.kubernetes.io/part-of": PART_OF}
NON_ROOT_UID = 10001


def labels(component: str, name: str | None = None) -> dict[str, str]:
    """Recommended labels; `component` also decides which manifests file an object lands in."""
    return {
        "app.kubernetes.io/name": name or f"mediavault-{component}",
        "app.kubernetes.io/component": component,
        **MEMBER_LABELS,
        "app.kubernetes.io/managed-by": "pulumi",
    }


def selector(component: str, name: str | None = None) -> dict[str, str]:
    """The immutable subset of labels used in selectors."""
    return {
        "app.kubernetes.io/name": name or f"mediavault-{component}",
        "app.kubernetes.io/component": component,
    }


def meta(
    name: str,
    namespace: str,
    component: str,
    annotations: Mapping[str, str] | None = None,
    extra_labels: Mapping[str, str] | None = None,
) -> k8s.meta.v1.ObjectMetaArgs:
    """Explicit name and namespace: under Pulumi's mocks nothing is auto-named."""
    return k8s.meta.v1.ObjectMetaArgs(
        name=name,
        namespace=namespace,
        labels={**labels(component), **(extra_labels or {})},
        annotations=dict(annotations) if annotations else None,
    )


def resources(
    cpu_request: str, memory_request: str, cpu_limit: str, memory_limit: str
) -> k8s.core.v1.ResourceRequirementsArgs:
    """Requests and limits: every container of the stack has both."""
    return k8s.core.v1.ResourceRequirementsArgs(
        requests={"cpu": cpu_request, "memory": memory_request},
        limits={"cpu": cpu_limit, "memory": memory_limit},
    )


def container_security(
    uid: int = NON_ROOT_UID, *, read_only_root: bool = True
) -> k8s.core.v1.SecurityContextArgs:
    """Non-root, no privilege escalation, no capabilities."""
    return k8s.core.v1.SecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        allow_privilege_escalation=False,
        read_only_root_filesystem=read_only_root,
        capabilities=k8s.core.v1.CapabilitiesArgs(drop=["ALL"]),
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def pod_security(uid: int = NON_ROOT_UID) -> k8s.core.v1.PodSecurityContextArgs:
    """Pod-level: non-root, and volumes group-writable for that user."""
    return k8s.core.v1.PodSecurityContextArgs(
        run_as_non_root=True,
        run_as_user=uid,
        run_as_group=uid,
        fs_group=uid,
        seccomp_profile=k8s.core.v1.SeccompProfileArgs(type="RuntimeDefault"),
    )


def app_env_from(secrets: Sequence[str]) -> list[k8s.core.v1.EnvFromSourceArgs]:
    """MediaVault's settings: plain ones from the ConfigMap, secrets from the role's Secrets."""
    return [
        k8s.core.v1.EnvFromSourceArgs(
            config_map_ref=k8s.core.v1.ConfigMapEnvSourceArgs(name=CONFIG_MAP)
        ),
        *(
            k8s.core.v1.EnvFromSourceArgs(secret_ref=k8s.core.v1.SecretEnvSourceArgs(name=name))
            for name in secrets
        ),
    ]


def secret_env(name: str, key: str | None = None, secret: str = SECRET) -> k8s.core.v1.EnvVarArgs:
    """An env var read from one of the stack's Secrets (never a literal)."""
    return k8s.core.v1.EnvVarArgs(
        name=name,
        value_from=k8s.core.v1.EnvVarSourceArgs(
            secret_key_ref=k8s.core.v1.SecretKeySelectorArgs(name=secret, key=key or name)
        ),
    )


def config_env(name: str, key: str | None = None) -> k8s.core.v1.EnvVarArgs:
    """An env var read from the stack's ConfigMap."""
    return k8s.core.v1.EnvVarArgs(
        name=name,
        value_from=k8s.core.v1.EnvVarSourceArgs(
            config_map_key_ref=k8s.core.v1.ConfigMapKeySelectorArgs(
                name=CONFIG_MAP, key=key or name
            )
        ),
    )


def http_probe(
    path: str, port: int | str, period: int = 10, failures: int = 3
) -> k8s.core.v1.ProbeArgs:
    """An HTTP GET probe."""
    return k8s.core.v1.ProbeArgs(
        http_get=k8s.core.v1.HTTPGetActionArgs(path=path, port=port),
        period_seconds=period,
        failure_threshold=failures,
        timeout_seconds=3,
    )


def tmp_volume(
    size_limit: str | None = None,
) -> tuple[k8s.core.v1.VolumeArgs, k8s.core.v1.VolumeMountArgs]:
    """A writable /tmp for containers with a read-only root filesystem."""
    return (
        k8s.core.v1.VolumeArgs(
            name="tmp", empty_dir=k8s.core.v1.EmptyDirVolumeSourceArgs(size_limit=size_limit)
        ),
        k8s.core.v1.VolumeMountArgs(name="tmp", mount_path="/tmp"),
    )


def service_dns(name: str, namespace: str) -> str:
    """The cluster-local DNS name of a Service."""
    return f"{name}.{namespace}.svc.cluster.local"


def cli_pod(
    component: str,
    command: list[str],
    *,
    image: str,
    pull_policy: str,
    resources_args: k8s.core.v1.ResourceRequirementsArgs,
    restart_policy: str,
    secrets: Sequence[str],
    env: Sequence[k8s.core.v1.EnvVarArgs] = (),
) -> k8s.core.v1.PodTemplateSpecArgs:
    """A pod running one `mediavault` command with the app's settings, non-root, no API token."""
    tmp_vol, tmp_mount = tmp_volume()
    container = k8s.core.v1.ContainerArgs(
        name=component,
        image=image,
        image_pull_policy=pull_policy,
        command=command,
        env_from=app_env_from(secrets),
        env=list(env) or None,
        resources=resources_args,
        security_context=container_security(),
        volume_mounts=[tmp_mount],
    )
    return k8s.core.v1.PodTemplateSpecArgs(
        # part-of=mediavault: the NetworkPolicies admit it to PostgreSQL, MinIO and nsqd.
        metadata=k8s.meta.v1.ObjectMetaArgs(labels=labels(component)),
        spec=k8s.core.v1.PodSpecArgs(
            restart_policy=restart_policy,
            security_context=pod_security(),
            # It talks to PostgreSQL, MinIO and nsqd, never to the API server.
            automount_service_account_token=False,
            enable_service_links=False,
            containers=[container],
            volumes=[tmp_vol],
        ),
    )
