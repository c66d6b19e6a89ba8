"""GET /api/media by capture time: keyset pages over equal dates, date ranges, capture facts."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from flask.testing import FlaskClient
from psycopg import sql

from mediavault.services import Services
from tests.api_fixtures import ApiUser

BURST = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def _insert(services: Services, owner: ApiUser, **fields: Any) -> str:
    media_id = str(uuid.uuid4())
    values = {
        "id": media_id, "owner_id": owner.id, "filename": "photo.jpg", "content_type": "image/jpeg",
        "kind": "image", "size_bytes": 10, "status": "ready",
        "original_key": f"originals/{media_id}.jpg", **fields,
    }  # fmt: skip
    with services.pool.connection() as conn:
        conn.execute(
            sql.SQL("INSERT INTO media ({}) VALUES ({})").format(
                sql.SQL(", ").join(map(sql.Identifier, values)),
                sql.SQL(", ").join(sql.Placeholder() * len(values)),
            ),
            list(values.values()),
        )
    return media_id


def _pages(api: FlaskClient, user: ApiUser, query: str, limit: int = 3) -> list[str]:
    seen: list[str] = []
    cursor = None
    while True:
        url = f"/api/media?limit={limit}&{query}" + (f"&cursor={cursor}" if cursor else "")
        response = api.get(url, headers=user.headers)
        assert response.status_code == 200, response.get_data(as_text=True)
        page = response.get_json()
        seen += [item["id"] for item in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def test_sorting_by_taken_at_pages_through_equal_dates_exactly_once(
    media_api: FlaskClient, alice: ApiUser, services: Services
) -> None:
    # A burst of 7 photos in the same second, one older and one newer, and an undated upload.
    burst = [_insert(services, alice, taken_at=BURST) for _ in range(7)]
    older = _insert(services, alice, taken_at=BURST - timedelta(days=400))
    newer = _insert(services, alice, taken_at=BURST + timedelta(hours=1))
    undated = _insert(services, alice, created_at=BURST + timedelta(minutes=30))

    newest_first = _pages(media_api, alice, "sort=taken_at")
    oldest_first = _pages(media_api, alice, "sort=taken_at&order=asc")

    assert len(newest_first) == len(set(newest_first)) == 10
    tie_order = sorted(burst, reverse=True)  # equal dates: by id, the same on every page
    assert newest_first == [newer, undated, *tie_order, older]
    assert oldest_first == list(reversed(newest_first))
    # The upload order is another order, with cursors of its own.
    by_upload = media_api.get("/api/media?limit=3", headers=alice.headers).get_json()
    mixed = media_api.get(f"/api/media?sort=taken_at&cursor={by_upload['next_cursor']}",
                          headers=alice.headers)  # fmt: skip
    assert mixed.status_code == 400
    assert mixed.get_json()["error"]["code"] == "invalid_cursor"


def test_a_date_range_keeps_what_was_taken_in_it(
    media_api: FlaskClient, alice: ApiUser, services: Services, bob: ApiUser
) -> None:
    june = [_insert(services, alice, taken_at=BURST + timedelta(days=d)) for d in (0, 5, 29)]
    _insert(services, alice, taken_at=datetime(2024, 7, 1, tzinfo=UTC))  # the end is exclusive
    _insert(services, alice, taken_at=datetime(2024, 5, 31, 23, 59, tzinfo=UTC))
    _insert(services, bob, taken_at=BURST)  # someone else's June

    found = _pages(media_api, alice, "sort=taken_at&taken_from=2024-06-01&taken_to=2024-07-01")
    assert sorted(found) == sorted(june)
    # RFC 3339 times with an offset work too: 2024-06-01T02:00+02:00 is midnight UTC.
    late = _pages(media_api, alice, "taken_from=2024-06-05T14:00:00%2B02:00&taken_to=2024-07-01")
    assert sorted(late) == sorted(june[1:])

    for query, word in (("sort=size", "sort"), ("order=up", "order"),
                        ("taken_from=June", "taken_from"),
                        ("taken_from=2024-07-01&taken_to=2024-06-01", "before")):  # fmt: skip
        response = media_api.get(f"/api/media?{query}", headers=alice.headers)
        assert response.status_code == 400, query
        assert word in response.get_json()["error"]["message"]


def test_the_owner_sees_capture_facts_in_local_time(
    media_api: FlaskClient, alice: ApiUser, services: Services
) -> None:
    with_offset = _insert(
        services, alice, taken_at=datetime(2024, 6, 1, 12, 3, 22, tzinfo=UTC), taken_at_offset=120,
        camera_make="Apple", camera_model="iPhone 15 Pro", latitude=48.8583, longitude=2.2945,
    )  # fmt: skip
    floating = _insert(services, alice, taken_at=datetime(2019, 1, 2, 8, 0, tzinfo=UTC))

    one = media_api.get(f"/api/media/{with_offset}", headers=alice.headers).get_json()
    other = media_api.get(f"/api/media/{floating}", headers=alice.headers).get_json()

    assert one["taken_at"] == "2024-06-01T14:03:22+02:00"
    assert one["taken_at_offset"] == 120
    assert (one["camera_make"], one["camera_model"]) == ("Apple", "iPhone 15 Pro")
    assert one["location"] == {"latitude": 48.8583, "longitude": 2.2945}
    assert other["taken_at"] == "2019-01-02T08:00:00"  # the camera named no offset
    assert other["location"] is None
