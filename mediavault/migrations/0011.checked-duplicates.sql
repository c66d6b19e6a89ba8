-- depends: 0010.share-originals
-- Duplicates are only media whose stored bytes the worker checked (ready, with their sha256): an
-- announced checksum whose bytes never came must not turn the real upload of that file away.
DROP INDEX media_owner_checksum_idx;
CREATE INDEX media_owner_checked_checksum_idx ON media (owner_id, sha256)
    WHERE status = 'ready' AND sha256 IS NOT NULL;
