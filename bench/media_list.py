"""Latency of `GET /api/media?limit=50` as a library grows (p50/p99, through the function).

Starts a throwaway stack, seeds one user with 100,000 media (and 1,000,000 more spread over 1,000
other users), and a second user with 1,000, all `ready` with a thumbnail and 10 tags in use.
Then, through the media function (functions-framework's app, in process), it times the first
page, a deep cursor page (after 90% of the library) and the first page of one tag filter, for
both users, and prints p50/p99 and the ratio of the large library to the small one.
Usage: .venv/bin/python bench/media_list.py [--requests N] [--big N] [--others N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mediavault.pagination import Cursor  # noqa: E402
from mediavault.services import Services  # noqa: E402
from mediavault.users import create_api_token, get_or_create_local_user  # noqa: E402
from tests.harness import Stack, running_stack  # noqa: E402

TAGS = 10

SEED_MEDIA = """
INSERT INTO media (owner_id, filename, content_type, kind, status, size_bytes, original_key,
                   thumbnail_key, playback_key, width, height, duration_ms, created_at)
SELECT %(owner)s::uuid, 'clip-' || n || '.mp4', 'video/mp4', 'video', 'ready', 1000000,
       'originals/' || %(owner)s::text || '/' || md5(%(owner)s::text || n) || '.mp4',
       'derived/' || %(owner)s::text || '/' || md5(%(owner)s::text || n) || '/thumb.jpg',
       'derived/' || %(owner)s::text || '/' || md5(%(owner)s::text || n) || '/hevc.mp4',
       1920, 1080, 10000, now() - make_interval(secs => n)
FROM generate_series(1, %(count)s) AS n
"""

SEED_TAGS = """
WITH made AS (
    INSERT INTO tags (owner_id, name)
    SELECT %(owner)s::uuid, 'tag-' || t FROM generate_series(1, %(tags)s) AS t RETURNING id, name
)
INSERT INTO media_tags (media_id, tag_id)
SELECT m.id, made.id FROM media m JOIN made
  ON made.name = 'tag-' || (1 + abs(hashtext(m.id::text)) %% %(tags)s)
WHERE m.owner_id = %(owner)s::uuid
"""


def seed(services: Services, name: str, count: int) -> tuple[str, dict[str, str]]:
    """A user with `count` ready media, each with one of the tags; its auth header."""
    with services.pool.connection() as conn:
        user = get_or_create_local_user(conn, name)
        token = create_api_token(conn, user.id, "bench")
        conn.execute(SEED_MEDIA, {"owner": user.id, "count": count})
        conn.execute(SEED_TAGS, {"owner": user.id, "tags": TAGS})
    return user.id, {"Authorization": f"Bearer {token.token}"}


def seed_others(services: Services, users: int, per_user: int) -> None:
    """Other people's libraries, so that the big user is not alone in the tables."""
    with services.pool.connection() as conn:
        conn.execute(
            "INSERT INTO users (username) SELECT 'other-' || u FROM generate_series(1, %s) u",
            (users,),
        )
        conn.execute(
            "INSERT INTO media (owner_id, filename, content_type, kind, status, size_bytes,"
            " original_key, created_at)"
            " SELECT u.id, 'x.jpg', 'image/jpeg', 'image', 'ready', 10,"
            " 'originals/' || u.id || '/' || n || '.jpg', now() - make_interval(secs => n)"
            " FROM users u, generate_series(1, %s) n WHERE u.username LIKE 'other-%%'",
            (per_user,),
        )
    # A library at rest: vacuumed (visibility map set for index-only probes) and analysed.
    with services.pool.connection() as conn:
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE")


def deep_cursor(services: Services, owner: str, count: int) -> str:
    """The cursor after 90% of the owner's library."""
    with services.pool.connection() as conn:
        row = conn.execute(
            "SELECT created_at, id FROM media WHERE owner_id = %s"
            " ORDER BY created_at DESC, id DESC OFFSET %s LIMIT 1",
            (owner, int(count * 0.9)),
        ).fetchone()
    assert row is not None
    return Cursor(row["created_at"], str(row["id"])).encode()


def timed(client: Any, url: str, headers: dict[str, str], requests: int) -> list[float]:
    """Milliseconds per request, after a few warm-up requests."""
    for _ in range(5):
        assert client.get(url, headers=headers).status_code == 200
    samples = []
    for _ in range(requests):
        started = time.perf_counter()
        response = client.get(url, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
        assert len(response.get_json()["items"]) == 50
    return samples


def p99(samples: list[float]) -> float:
    """The 99th percentile."""
    return statistics.quantiles(samples, n=100)[98]


def main() -> None:
    """Seed, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--others", type=int, default=1_000_000)
    args = parser.parse_args()
    with running_stack("mediavault-bench-list-") as stack:
        run(stack, args.requests, args.big, args.others)


def run(stack: Stack, requests: int, big: int, others: int) -> None:
    """The measurements against a running stack."""
    import pytest
    from functions_framework import create_app

    services = Services.from_settings(stack.settings.for_worker())  # seeds millions of rows
    services.pool.wait(timeout=30)
    started = time.perf_counter()
    small_id, small_auth = seed(services, "small", 1_000)
    big_id, big_auth = seed(services, "big", big)
    seed_others(services, 1_000, others // 1_000)
    print(f"seeded {big + 1_000 + others:,} media in {time.perf_counter() - started:.0f}s")

    with pytest.MonkeyPatch.context() as patch:  # the function reads its settings at import
        for variable, value in stack.env.items():
            patch.setenv(variable, value)
        app: Any = create_app("media", str(ROOT / "functions" / "media" / "main.py"))  # type: ignore[no-untyped-call]
        client = app.test_client()
    queries: dict[str, Callable[[str, int], str]] = {
        "first page": lambda _owner, _count: "/api/media?limit=50",
        "deep cursor": lambda owner, count: (
            f"/api/media?limit=50&cursor={deep_cursor(services, owner, count)}"
        ),
        "tag filter": lambda _owner, _count: "/api/media?limit=50&tag=tag-7",
    }
    print(f"GET /api/media?limit=50 through the media function, {requests} requests each (ms)")
    print(f"{'query':<14}{'rows':>9}{'p50':>8}{'p99':>8}   {'p99 ratio to 1,000 rows':>10}")
    for name, make_url in queries.items():
        small = timed(client, make_url(small_id, 1_000), small_auth, requests)
        large = timed(client, make_url(big_id, big), big_auth, requests)
        print(f"{name:<14}{1_000:>9,}{statistics.median(small):>8.2f}{p99(small):>8.2f}")
        print(
            f"{'':<14}{big:>9,}{statistics.median(large):>8.2f}{p99(large):>8.2f}"
            f"   {p99(large) / p99(small):>8.2f}x"
        )
    services.close()


if __name__ == "__main__":
    main()
