-- depends: 0006.media-fidelity
-- Wrong share passwords counted per client (a hash of its address and the link) as well as per
-- link: one guesser is stopped early without locking the link for the people it was sent to,
-- while the per-link count still bounds guessing from many addresses.
CREATE TABLE share_unlock_failures (
    share_id          uuid NOT NULL REFERENCES share_links (id) ON DELETE CASCADE,
    client            text NOT NULL,
    failures          integer NOT NULL,
    window_started_at timestamptz NOT NULL,
    PRIMARY KEY (share_id, client)
);
