"""Fixtures for the image tests: a stack of their own and the images run as production runs them."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import httpx
import pytest

from mediavault.services import Services
from mediavault.users import create_api_token, get_or_create_local_user
from tests.harness import Stack, running_stack
from tests.podman import (
    Containers,
    containers,
    image_missing,
    nothing_left_behind,
    podman_missing,
)

# The test stack's variables that describe the host, not the application.
_HOST_ONLY = ("PATH", "HOME", "LANG", "XDG_RUNTIME_DIR", "MEDIAVAULT_DEV_")


def container_env(env: Mapping[str, str]) -> dict[str, str]:
    """A test stack's application settings, for a container on the host's network."""
    return {name: value for name, value in env.items() if not name.startswith(_HOST_ONLY)}


@dataclass(frozen=True)
class ImageStack:
    """A stack of the image tests' own (no other test's worker takes their uploads)."""

    stack: Stack
    services: Services
    token: str

    @property
    def headers(self) -> dict[str, str]:
        """A user's Authorization header."""
        return {"Authorization": f"Bearer {self.token}"}


def require_images(*refs: str) -> None:
    """Fail (not skip) when podman or an image is missing: `make test` provides both."""
    missing = podman_missing() or image_missing(*refs)
    if missing:
        pytest.fail(missing)


@pytest.fixture(scope="module")
def image_stack() -> Iterator[ImageStack]:
    """PostgreSQL, MinIO and NSQ on loopback, with a user holding an API token."""
    with running_stack("mediavault-images-") as stack:
        services = Services.from_settings(stack.settings)
        try:
            services.pool.wait(timeout=30)
            with services.pool.connection() as conn:
                user = get_or_create_local_user(conn, f"images-{uuid.uuid4().hex[:8]}")
                token = create_api_token(conn, user.id, "image tests").token
            yield ImageStack(stack, services, token)
        finally:
            services.close()


@pytest.fixture(scope="module")
def module_containers() -> Iterator[Containers]:
    """Containers removed after the module; fails if it left anything behind."""
    with nothing_left_behind(), containers() as made:
        yield made


def answers_200(url: str) -> bool:
    """True once the URL answers 200."""
    try:
        return httpx.get(url, timeout=5.0).status_code == 200
    except httpx.HTTPError:
        return False
