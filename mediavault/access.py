"""Scoped storage accounts: what the functions and the worker may each do in the bucket.

MinIO's root account is used by `mediavault init` alone, to create one user per role with a
policy that allows that role's work and nothing else. Keys in storage are laid out so that a
prefix is a permission: browsers PUT under uploads/, the worker promotes checked bytes to
originals/ and writes derived/.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from mediavault.errors import StorageError
from mediavault.storage import DERIVED_PREFIX, ORIGINALS_PREFIX, UPLOADS_PREFIX

if TYPE_CHECKING:
    from mediavault.config import AccessKey, ProvisionSettings, StorageSettings

logger = logging.getLogger(__name__)

FUNCTIONS_POLICY = "mediavault-functions"
WORKER_POLICY = "mediavault-worker"


def _statement(actions: list[str], resources: list[str]) -> dict[str, Any]:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def functions_policy(bucket: str) -> dict[str, Any]:
    """Presign uploads (PUT only under uploads/), read and delete a user's objects, list."""
    objects = f"arn:aws:s3:::{bucket}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            _statement(
                ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"],
                [f"{objects}/{UPLOADS_PREFIX}*"],
            ),
            _statement(["s3:GetObject", "s3:DeleteObject"], [f"{objects}/*"]),
            _statement(["s3:ListBucket", "s3:GetBucketLocation"], [objects]),
        ],
    }


def worker_policy(bucket: str) -> dict[str, Any]:
    """Read uploads and originals, promote checked bytes, write derived files, clean up."""
    objects = f"arn:aws:s3:::{bucket}"
    uploads, originals, derived = (
        f"{objects}/{prefix}*" for prefix in (UPLOADS_PREFIX, ORIGINALS_PREFIX, DERIVED_PREFIX)
    )
    return {
        "Version": "2012-10-17",
        "Statement": [
            _statement(["s3:GetObject"], [uploads, originals]),
            _statement(["s3:PutObject"], [originals, derived]),
            _statement(["s3:DeleteObject"], [uploads, originals, derived]),
            _statement(["s3:AbortMultipartUpload"], [uploads]),
            _statement(["s3:ListBucket", "s3:GetBucketLocation"], [objects]),
        ],
    }


def ensure_role_accounts(storage: StorageSettings, provision: ProvisionSettings) -> None:
    """Create (or update) the functions' and the worker's users and policies; idempotent."""
    from minio.credentials.providers import StaticProvider
    from minio.error import MinioAdminException
    from minio.minioadmin import MinioAdmin

    admin = MinioAdmin(
        endpoint=storage.endpoint,
        credentials=StaticProvider(provision.root.access_key, provision.root.secret_key),
        region=storage.region,
        secure=storage.use_ssl,
    )
    roles: tuple[tuple[str, AccessKey, dict[str, Any]], ...] = (
        (FUNCTIONS_POLICY, provision.functions, functions_policy(storage.bucket)),
        (WORKER_POLICY, provision.worker, worker_policy(storage.bucket)),
    )
    for name, key, policy in roles:
        if key.access_key == provision.root.access_key:
            raise StorageError(f"the {name} account must not be MinIO's root account")
        try:
            admin.policy_add(name, policy=policy)
            admin.user_add(key.access_key, key.secret_key)
            admin.policy_set(name, user=key.access_key)
        except MinioAdminException as error:
            raise StorageError(f"cannot set up the {name} account: {error}") from error
        logger.info("storage account %s has policy %s", key.access_key, name)
