"""Who holds which credential: one Secret per role, so that each pod sees only its own.

MinIO's root account is seen by MinIO and the init Job alone; `mediavault init` uses it to create
a scoped MinIO user per role (mediavault/access.py). The functions hold their storage account and
the sign-in secrets; the worker, its transcode Jobs and the reconcile pass hold the worker's
storage account. Everyone shares the PostgreSQL account.
"""

from __future__ import annotations

import pulumi

from infra_pulumi import kube
from infra_pulumi.settings import StackSettings

SHARED_SECRET = kube.SECRET
MINIO_ROOT_SECRET = "mediavault-minio-root"  # noqa: S105  (Secret names, not values)
FUNCTIONS_SECRET = "mediavault-functions-secrets"  # noqa: S105
WORKER_SECRET = "mediavault-worker-secrets"  # noqa: S105

# The Secrets each role's containers take whole (envFrom), after the ConfigMap.
FUNCTIONS_SECRETS = (SHARED_SECRET, FUNCTIONS_SECRET)
WORKER_SECRETS = (SHARED_SECRET, WORKER_SECRET)  # the worker, its Jobs, the reconcile CronJob
INIT_SECRETS = (SHARED_SECRET,)
# The init Job's further variables, one key each (variable → Secret, key).
INIT_SECRET_ENV = {
    "MINIO_ROOT_USER": (MINIO_ROOT_SECRET, "MINIO_ROOT_USER"),
    "MINIO_ROOT_PASSWORD": (MINIO_ROOT_SECRET, "MINIO_ROOT_PASSWORD"),
    "S3_FUNCTIONS_ACCESS_KEY": (FUNCTIONS_SECRET, "S3_ACCESS_KEY"),
    "S3_FUNCTIONS_SECRET_KEY": (FUNCTIONS_SECRET, "S3_SECRET_KEY"),
    "S3_WORKER_ACCESS_KEY": (WORKER_SECRET, "S3_ACCESS_KEY"),
    "S3_WORKER_SECRET_KEY": (WORKER_SECRET, "S3_SECRET_KEY"),
    # Every process's settings name an own storage account; init's storage work is done with
    # the root account, so this one only completes its settings.
    "S3_ACCESS_KEY": (FUNCTIONS_SECRET, "S3_ACCESS_KEY"),
    "S3_SECRET_KEY": (FUNCTIONS_SECRET, "S3_SECRET_KEY"),
}


def secret_data(s: StackSettings) -> dict[str, dict[str, pulumi.Input[str]]]:
    """Secret name → its string data. Credentials travel as pairs: both halves live together."""
    secrets = s.secrets
    return {
        SHARED_SECRET: {
            "POSTGRES_USER": s.postgres_user,
            "POSTGRES_PASSWORD": secrets.postgres_password,
        },
        MINIO_ROOT_SECRET: {
            "MINIO_ROOT_USER": s.minio_root_user,
            "MINIO_ROOT_PASSWORD": secrets.minio_root_password,
        },
        FUNCTIONS_SECRET: {
            "S3_ACCESS_KEY": s.storage_functions_access_key,
            "S3_SECRET_KEY": secrets.storage_functions_secret_key,
            "DISCORD_CLIENT_SECRET": secrets.discord_client_secret,
            "SESSION_SECRET": secrets.session_secret,
        },
        WORKER_SECRET: {
            "S3_ACCESS_KEY": s.storage_worker_access_key,
            "S3_SECRET_KEY": secrets.storage_worker_secret_key,
        },
    }
