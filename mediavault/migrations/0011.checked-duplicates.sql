-- depends: 0010.share-originals
-- Duplicates are only media whose bytes are stored: `complete` saw them whole (storage checked
-- them against the announced checksum), or the worker took them up. An announced checksum whose
-- bytes never came must not turn the real upload of that file away.
ALTER TABLE media ADD COLUMN bytes_stored_at timestamptz;
UPDATE media SET bytes_stored_at = updated_at WHERE status IN ('processing', 'ready');
DROP INDEX media_owner_checksum_idx;
CREATE INDEX media_owner_stored_checksum_idx ON media (owner_id, (coalesce(sha256, announced_sha256)))
    WHERE coalesce(sha256, announced_sha256) IS NOT NULL AND status <> 'failed'
      AND (status <> 'pending' OR bytes_stored_at IS NOT NULL);
