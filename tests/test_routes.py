"""The route table: prefixes match on path-segment boundaries, the longest wins."""

from __future__ import annotations

import pytest

from mediavault.routes import FUNCTIONS, ROUTES, function_for, prefixes_of


@pytest.mark.parametrize(
    ("path", "function"),
    [
        ("/api/auth/login", "auth"),
        ("/api/auth", "auth"),
        ("/api/uploads", "presign"),
        ("/api/uploads/123/complete", "presign"),
        ("/api/media", "media"),
        ("/api/media/123", "media"),
        ("/api/tags", "media"),
        ("/api/collections/1/shares/2", "collections"),
        ("/api/share/tok", "share"),
        ("/s/tok", "share"),
        ("/api/mediaextra", "web"),
        ("/sx", "web"),
        ("/", "web"),
        ("/collections/123", "web"),
        ("/_app/immutable/entry/start.js", "web"),
        ("/healthz", "web"),
        ("", None),
    ],
)
def test_function_for(path: str, function: str | None) -> None:
    assert function_for(path) == function


def test_every_function_is_routed_and_prefixes_are_unique() -> None:
    assert FUNCTIONS == ("auth", "presign", "media", "collections", "share", "web")
    assert len({route.prefix for route in ROUTES}) == len(ROUTES)
    assert prefixes_of("media") == ("/api/media", "/api/tags")
    assert prefixes_of("share") == ("/api/share", "/s")
    assert prefixes_of("web") == ("/",)
