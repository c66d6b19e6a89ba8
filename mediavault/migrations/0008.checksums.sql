-- depends: 0007.unlock-limits-per-client
-- sha256: the hex SHA-256 of the checked original, computed by the worker while it reads the
-- bytes. Rows from before this migration get theirs from the next reconcile passes, a batch at a
-- time: hashing every original here would hold the deploy for as long as reading all of storage.
-- announced_sha256: what the client said the file's SHA-256 is; the worker fails a mismatch.
ALTER TABLE media ADD COLUMN sha256 text CHECK (sha256 ~ '^[0-9a-f]{64}$');
ALTER TABLE media ADD COLUMN announced_sha256 text CHECK (announced_sha256 ~ '^[0-9a-f]{64}$');
-- "Does this user already have this file?": checked checksums, or announced ones still in flight.
CREATE INDEX media_owner_checksum_idx ON media (owner_id, (coalesce(sha256, announced_sha256)))
    WHERE coalesce(sha256, announced_sha256) IS NOT NULL;
-- Ready rows still without a checksum, for reconcile's backfill (empty once it is done).
CREATE INDEX media_checksum_backfill_idx ON media (reconciled_at NULLS FIRST, created_at)
    WHERE status = 'ready' AND sha256 IS NULL;
