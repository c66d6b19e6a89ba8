-- depends: 0004.staged-uploads
-- reconciled_at: when the reconcile pass last looked at a pending upload, so that each run looks
-- at the ones it saw least recently and thousands of abandoned uploads cannot hide one whose
-- event was lost. worker_id: which worker runs a job, so that a restarted worker takes back at
-- once the jobs it had when it was killed.
ALTER TABLE media ADD COLUMN reconciled_at timestamptz;
CREATE INDEX media_pending_reconcile_idx ON media (reconciled_at NULLS FIRST, created_at)
    WHERE status = 'pending';
ALTER TABLE processing_jobs ADD COLUMN worker_id text;
