"""An attempt thought dead and taken over never undoes the work of the attempt that replaced it."""

from __future__ import annotations

import uuid

from mediavault import jobs
from mediavault.services import Services
from mediavault.storage import Storage, original_key, upload_key
from processing.job import refuse
from tests.api_fixtures import ApiUser
from tests.conftest import Plant


def test_a_superseded_attempt_cannot_fail_refuse_or_finish_the_job(
    alice: ApiUser, services: Services, admin_storage: Storage, plant: Plant
) -> None:
    media_id = str(uuid.uuid4())
    staged, served = upload_key(media_id), original_key(media_id, ".jpg")
    with services.pool.connection() as conn:
        conn.execute(
            "INSERT INTO media (id, owner_id, filename, content_type, size_bytes, upload_key)"
            " VALUES (%s, %s, 'a.jpg', 'image/jpeg', 3, %s)",
            (media_id, alice.id, staged),
        )
        first = jobs.claim(conn, staged, stale_after_seconds=60)
        assert first is not None
        # The first attempt's heartbeat went quiet (a loaded machine): a second one takes over.
        conn.execute(
            "UPDATE processing_jobs SET heartbeat_at = now() - interval '1 hour'"
            " WHERE media_id = %s",
            (media_id,),
        )
        second = jobs.claim(conn, staged, stale_after_seconds=60)
        assert second is not None
        assert (first.attempts, second.attempts) == (1, 2)
        # The second attempt checked the bytes and promoted them.
        jobs.record_original(conn, media_id, served, "image/jpeg")
    plant(served, b"abc", "image/jpeg")

    with services.pool.connection() as conn:
        assert jobs.heartbeat(conn, media_id, first.attempts) == "superseded"
        assert jobs.heartbeat(conn, media_id, second.attempts) == "alive"
    # The first attempt, now failing (its staged file is gone), must not delete the original.
    refuse(services, first, "the file changed while it was being checked")
    assert admin_storage.exists(served)
    with services.pool.connection() as conn:
        row = conn.execute("SELECT status, original_key FROM media WHERE id = %s", (media_id,))
        assert row.fetchone() == {"status": "processing", "original_key": served}
        assert jobs.finish_ready(conn, media_id, first.attempts, {}, encoder=None, timings={}) == (
            "superseded"
        )
        assert jobs.finish_ready(conn, media_id, second.attempts, {}, encoder=None, timings={}) == (
            "alive"
        )
        conn.execute("DELETE FROM media WHERE id = %s", (media_id,))
        assert jobs.heartbeat(conn, media_id, second.attempts) == "gone"
