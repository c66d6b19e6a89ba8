-- depends: 0003.share-unlock-limits
-- Uploads land on a staging key (uploads/<media id>) that nothing serves; the worker copies the
-- checked object to original_key, which stays NULL until then. A failed upload whose bytes were
-- refused and removed keeps neither key: it holds nothing and costs no quota.
ALTER TABLE media ADD COLUMN upload_key text UNIQUE;
ALTER TABLE media ALTER COLUMN original_key DROP NOT NULL;
-- Rows that were not processed yet still get their bytes at the key they were presigned for; the
-- worker checks them there and keeps that key.
UPDATE media SET upload_key = original_key WHERE status IN ('pending', 'processing');
-- Per-owner counts of running jobs (fair scheduling) and of pending uploads.
CREATE INDEX media_owner_unfinished_idx ON media (owner_id, status)
    WHERE status IN ('pending', 'processing');
