"""Originals through share links (issue 20, finding 1): only when allowed, and without the place."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
from flask.testing import FlaskClient

from mediavault.services import Services
from tests.api_fixtures import ApiUser
from tests.conftest import Plant
from tests.harness import Stack
from tests.location_media import (
    container_tags,
    decoded_frames,
    exiftool,
    located_clip,
    located_photo,
    packets,
    place_tags,
)
from tests.test_media import _insert
from tests.worker_fixtures import RunningWorker, Upload, settled


def _collection(collections_api: FlaskClient, user: ApiUser, media_ids: list[str]) -> str:
    collection: str = collections_api.post(
        "/api/collections", json={"title": "Trip"}, headers=user.headers
    ).get_json()["id"]
    for media_id in media_ids:
        added = collections_api.put(
            f"/api/collections/{collection}/items/{media_id}", headers=user.headers
        )
        assert added.status_code in (200, 204), added.get_data(as_text=True)
    return collection


def _share(
    collections_api: FlaskClient, user: ApiUser, collection: str, **options: Any
) -> dict[str, Any]:
    created = collections_api.post(
        f"/api/collections/{collection}/shares", json=options, headers=user.headers
    )
    assert created.status_code == 201, created.get_data(as_text=True)
    share: dict[str, Any] = created.get_json()
    return share


def _ready(services: Services, media_id: str) -> dict[str, Any]:
    row = settled(services, media_id)
    assert row["status"] == "ready", row["error"]
    return row


def _uploaded(upload: Upload, services: Services, tmp_path: Path) -> dict[str, tuple[str, Path]]:
    """A photo and a video that name where they were made, processed by the real worker."""
    photo = located_photo(tmp_path / "IMG_0001.jpg")
    clip = located_clip(tmp_path / "IMG_0002.mp4")
    photo_id, clip_id = upload(photo, "image/jpeg"), upload(clip, "video/mp4")
    _ready(services, photo_id)
    _ready(services, clip_id)
    return {"photo": (photo_id, photo), "clip": (clip_id, clip)}


def _fetch(share_api: FlaskClient, path: str, target: Path) -> httpx.Response:
    redirect = share_api.get(path)
    assert redirect.status_code == 302, (path, redirect.get_data(as_text=True))
    response = httpx.get(redirect.headers["Location"])
    assert response.status_code == 200
    target.write_bytes(response.content)
    return response


def test_a_link_without_downloads_hands_out_no_original_on_any_route(
    worker: RunningWorker, upload: Upload, collections_api: FlaskClient, share_api: FlaskClient,
    alice: ApiUser, services: Services, tmp_path: Path,
) -> None:  # fmt: skip
    media = _uploaded(upload, services, tmp_path)
    collection = _collection(collections_api, alice, [media_id for media_id, _ in media.values()])
    token = _share(collections_api, alice, collection, allow_download=False)["token"]

    view = share_api.get(f"/api/share/{token}")
    assert view.status_code == 200
    text = json.dumps(view.get_json())
    assert "/original" not in text
    assert "/download" not in text
    assert all(item["urls"]["original"] is None for item in view.get_json()["items"])
    page = share_api.get(f"/s/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "/original" not in html
    assert "/download" not in html
    for media_id, _ in media.values():
        for kind in ("original", "download"):
            refused = share_api.get(f"/s/{token}/m/{media_id}/{kind}")
            assert refused.status_code == 404, (kind, refused.headers.get("Location"))
            assert refused.get_json()["error"]["code"] == "not_found"


def test_an_item_with_nothing_derived_is_not_played_from_its_original_without_downloads(
    collections_api: FlaskClient, share_api: FlaskClient, alice: ApiUser, services: Services,
    plant: Plant,
) -> None:  # fmt: skip
    # A video the worker could only check (no HEVC, no web rendition): its original alone plays.
    [media_id] = _insert(services, alice, status="ready", content_type="video/mp4",
                         original_codecs="avc1.42C00C")  # fmt: skip
    with services.pool.connection() as conn:
        conn.execute(
            "UPDATE media SET shared_original_key = original_key WHERE id = %s", (media_id,)
        )
        key = conn.execute("SELECT original_key FROM media WHERE id = %s", (media_id,)).fetchone()
    assert key is not None
    plant(key["original_key"], b"clean original")
    collection = _collection(collections_api, alice, [media_id])

    closed = _share(collections_api, alice, collection)["token"]
    [item] = share_api.get(f"/api/share/{closed}").get_json()["items"]
    assert item["urls"] == {"thumbnail": None, "playback": None, "original": None}
    assert item["sources"] == []
    assert share_api.get(f"/s/{closed}/m/{media_id}/original").status_code == 404
    assert f"/m/{media_id}/" not in share_api.get(f"/s/{closed}").get_data(as_text=True)

    opened = _share(collections_api, alice, collection, allow_download=True)["token"]
    [item] = share_api.get(f"/api/share/{opened}").get_json()["items"]
    base = f"{services.settings.api_base_url}/s/{opened}/m/{media_id}/"
    assert item["urls"]["playback"] == base + "original"
    assert item["urls"]["original"] == base + "download"
    shown = share_api.get(f"/s/{opened}/m/{media_id}/original")
    assert shown.status_code == 302
    assert httpx.get(shown.headers["Location"]).content == b"clean original"


def test_a_link_hands_out_originals_without_their_place_and_otherwise_unchanged(
    worker: RunningWorker, upload: Upload, collections_api: FlaskClient, share_api: FlaskClient,
    media_api: FlaskClient, alice: ApiUser, services: Services, tmp_path: Path,
) -> None:  # fmt: skip
    media = _uploaded(upload, services, tmp_path)
    (photo_id, photo), (clip_id, clip) = media["photo"], media["clip"]
    assert place_tags(photo)
    assert "location" in container_tags(clip)
    collection = _collection(collections_api, alice, [photo_id, clip_id])
    share = _share(collections_api, alice, collection, allow_download=True)
    assert share["include_location"] is False
    token = share["token"]

    for kind in ("download", "original"):
        got = tmp_path / f"shared-photo-{kind}.jpg"
        response = _fetch(share_api, f"/s/{token}/m/{photo_id}/{kind}", got)
        assert response.headers["content-type"] == "image/jpeg"
        assert place_tags(got) == {}, kind
        tags = exiftool(got)
        assert (tags["IFD0:Make"], tags["IFD0:Model"]) == ("Canon", "EOS R5")  # the rest stays
        assert tags["ExifIFD:DateTimeOriginal"] == "2024:06:01 14:03:22"
        assert decoded_frames(got) == decoded_frames(photo)  # metadata rewritten, not re-encoded
    assert response.headers.get("content-disposition") is None  # `original` shows inline

    got = tmp_path / "shared-clip.mp4"
    response = _fetch(share_api, f"/s/{token}/m/{clip_id}/download", got)
    assert response.headers["content-disposition"].startswith("attachment;")
    tags = container_tags(got)
    assert not [name for name in tags if "location" in name.lower()], tags
    assert tags["title"] == "Trip"
    assert tags["com.apple.quicktime.make"] == "Apple"
    assert place_tags(got) == {}
    assert packets(got) == packets(clip)  # every stream's packets, bit for bit

    # The owner's own download is the file as uploaded, place included.
    for media_id, source in media.values():
        body = media_api.get(f"/api/media/{media_id}", headers=alice.headers).get_json()
        assert httpx.get(body["urls"]["original"]).content == source.read_bytes()

    # A link whose owner chose to include the place hands out the originals as uploaded.
    located = _share(collections_api, alice, collection, allow_download=True, include_location=True)
    assert located["include_location"] is True
    listed = collections_api.get(f"/api/collections/{collection}/shares", headers=alice.headers)
    assert {row["include_location"] for row in listed.get_json()["items"]} == {True, False}
    for media_id, source in media.values():
        got = tmp_path / f"located-{media_id}"
        _fetch(share_api, f"/s/{located['token']}/m/{media_id}/download", got)
        assert got.read_bytes() == source.read_bytes()


def test_an_item_not_yet_checked_for_its_place_is_not_handed_out_until_backfilled(
    collections_api: FlaskClient, share_api: FlaskClient, alice: ApiUser, services: Services,
    plant: Plant, stack: Stack, tmp_path: Path,
) -> None:  # fmt: skip
    # Processed before links handed out originals without their place: nobody looked for one.
    photo = located_photo(tmp_path / "old.jpg")
    [media_id] = _insert(services, alice, status="ready", kind="image", content_type="image/jpeg",
                         filename="old.jpg")  # fmt: skip
    with services.pool.connection() as conn:
        key = conn.execute("SELECT original_key FROM media WHERE id = %s", (media_id,)).fetchone()
    assert key is not None
    plant(key["original_key"], photo.read_bytes(), "image/jpeg")
    collection = _collection(collections_api, alice, [media_id])

    token = _share(collections_api, alice, collection, allow_download=True)["token"]
    [item] = share_api.get(f"/api/share/{token}").get_json()["items"]
    assert item["urls"]["original"] is None
    for kind in ("download", "original"):
        refused = share_api.get(f"/s/{token}/m/{media_id}/{kind}")
        assert refused.status_code == 409
        error = refused.get_json()["error"]
        assert error["code"] == "not_checked_for_location"
        assert "location" in error["message"]
    located = _share(collections_api, alice, collection, allow_download=True,
                     include_location=True)["token"]  # fmt: skip
    got = tmp_path / "located.jpg"
    _fetch(share_api, f"/s/{located}/m/{media_id}/download", got)
    assert got.read_bytes() == photo.read_bytes()

    # The worker's command looks at such originals once, as a job would.
    done = subprocess.run(
        [sys.executable, "-m", "mediavault.cli", "share-originals"],
        env={**stack.env, **stack.layout.worker_env()}, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    got = tmp_path / "placeless.jpg"
    _fetch(share_api, f"/s/{token}/m/{media_id}/download", got)
    assert place_tags(got) == {}
    assert exiftool(got)["IFD0:Make"] == "Canon"
    assert decoded_frames(got) == decoded_frames(photo)
