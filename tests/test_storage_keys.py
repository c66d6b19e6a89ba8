"""Object keys name no owner (issue 20, finding 11); `mediavault migrate-keys` moves old ones."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from flask.testing import FlaskClient

from mediavault.keymove import KEY_COLUMNS, legacy_keys, migrate_keys
from mediavault.services import Services
from mediavault.storage import Storage
from tests.api_fixtures import ApiUser
from tests.conftest import Plant
from tests.harness import Stack
from tests.location_media import located_clip, located_photo
from tests.test_media import _insert
from tests.test_share_originals import _collection, _ready, _share
from tests.worker_fixtures import RunningWorker, Upload

KINDS = ("thumbnail", "preview", "playback", "web", "original", "download")


def test_no_url_a_link_hands_out_names_the_owner(
    worker: RunningWorker, upload: Upload, collections_api: FlaskClient, share_api: FlaskClient,
    alice: ApiUser, services: Services, tmp_path: Path,
) -> None:  # fmt: skip
    media_ids = [
        upload(located_photo(tmp_path / "photo.jpg"), "image/jpeg"),
        upload(located_clip(tmp_path / "clip.mp4"), "video/mp4"),
    ]
    rows = [_ready(services, media_id) for media_id in media_ids]
    collection = _collection(collections_api, alice, media_ids)
    followed = 0
    for options in ({"allow_download": True}, {"allow_download": True, "include_location": True}):
        token = _share(collections_api, alice, collection, **options)["token"]
        for media_id in media_ids:
            for kind in KINDS:
                redirect = share_api.get(f"/s/{token}/m/{media_id}/{kind}")
                if redirect.status_code == 404:
                    continue  # a rendition this item does not have
                assert redirect.status_code == 302, (kind, redirect.get_data(as_text=True))
                location = redirect.headers["Location"]
                assert alice.id not in location, (kind, location)
                assert httpx.get(location).status_code == 200
                followed += 1
    assert followed >= 14  # thumbnails, previews, playback, web, originals, downloads
    for row in rows:
        assert not [row[c] for c in KEY_COLUMNS if row[c] and alice.id in row[c]], row


def _legacy_item(services: Services, plant: Plant, owner: ApiUser) -> dict[str, str]:
    """A ready media stored the old way (keys under the owner's id), with its objects."""
    [media_id] = _insert(services, owner, status="ready")
    keys = {
        "original_key": f"originals/{owner.id}/{media_id}.mp4",
        "playback_key": f"derived/{owner.id}/{media_id}/hevc.mp4",
        "thumbnail_key": f"derived/{owner.id}/{media_id}/thumb.webp",
        "shared_original_key": f"derived/{owner.id}/{media_id}/original-shared.mp4",
    }
    for column, key in keys.items():
        plant(key, f"{column} of {media_id}".encode())
    with services.pool.connection() as conn:
        conn.execute(
            "UPDATE media SET original_key = %(original_key)s, playback_key = %(playback_key)s,"
            " thumbnail_key = %(thumbnail_key)s, shared_original_key = %(shared_original_key)s"
            " WHERE id = %(id)s",
            {**keys, "id": media_id},
        )
    return {"id": media_id, **keys}


def _row(services: Services, media_id: str) -> dict[str, str | None]:
    with services.pool.connection() as conn:
        row = conn.execute("SELECT * FROM media WHERE id = %s", (media_id,)).fetchone()
    assert row is not None
    return {column: row[column] for column in (*KEY_COLUMNS, "status")}


def _objects(storage: Storage, prefix: str) -> list[str]:
    listed = storage.client.list_objects(storage.bucket, prefix=prefix, recursive=True)
    return sorted(o.object_name for o in listed if o.object_name is not None)


def _copy(storage: Storage, source: str, target: str) -> None:
    from minio.commonconfig import CopySource

    storage.client.copy_object(storage.bucket, target, CopySource(storage.bucket, source))


def test_migrate_keys_moves_old_objects_and_can_be_rerun_after_any_interruption(
    alice: ApiUser, services: Services, admin_storage: Storage, plant: Plant, stack: Stack
) -> None:
    untouched = _legacy_item(services, plant, alice)
    # Interrupted after copying one object of four: the row still names the old keys.
    half_copied = _legacy_item(services, plant, alice)
    [(_, first_new)] = list(legacy_keys(half_copied["id"], half_copied))[:1]
    _copy(admin_storage, half_copied["original_key"], first_new)
    # Interrupted after the row was updated, before the old objects were deleted.
    updated = _legacy_item(services, plant, alice)
    moves = dict(legacy_keys(updated["id"], updated))
    for old, new in moves.items():
        _copy(admin_storage, old, new)
    with services.pool.connection() as conn:
        for column in KEY_COLUMNS:
            if updated.get(column):
                conn.execute(
                    f"UPDATE media SET {column} = %s WHERE id = %s",  # noqa: S608  (our own names)
                    (moves[updated[column]], updated["id"]),
                )
    # Still being processed: left for a later run, since its job may write its keys again.
    busy = _legacy_item(services, plant, alice)
    with services.pool.connection() as conn:
        conn.execute("UPDATE media SET status = 'processing' WHERE id = %s", (busy["id"],))

    first = migrate_keys(services.pool, admin_storage)
    assert first.moved >= 2  # the other tests' media may be moved too: the database is shared
    assert first.waiting >= 1
    assert first.removed >= 4  # the old objects of the row updated before the interruption

    for item in (untouched, half_copied, updated):
        row = _row(services, item["id"])
        for column in ("original_key", "playback_key", "thumbnail_key", "shared_original_key"):
            key = row[column]
            assert key is not None
            assert alice.id not in key
            with httpx.Client() as client:
                url = admin_storage.presign_get(key, "application/octet-stream")
                assert client.get(url).content == f"{column} of {item['id']}".encode()
        assert _objects(admin_storage, f"originals/{alice.id}/{item['id']}") == []
        assert _objects(admin_storage, f"derived/{alice.id}/{item['id']}/") == []
    assert alice.id in (_row(services, busy["id"])["original_key"] or "")

    # Its job done, the next run (the real command) moves the last one; a rerun does nothing.
    with services.pool.connection() as conn:
        conn.execute("UPDATE media SET status = 'ready' WHERE id = %s", (busy["id"],))
    for expected in ("moved 1", "moved 0"):
        done = subprocess.run(
            [sys.executable, "-m", "mediavault.cli", "migrate-keys"],
            env=stack.env, capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        assert expected in done.stderr, done.stderr
    assert _objects(admin_storage, f"originals/{alice.id}/") == []
    assert _objects(admin_storage, f"derived/{alice.id}/") == []
    assert alice.id not in str(_row(services, busy["id"]))
