-- depends: 0002.oauth-login-states
-- Wrong share passwords are counted per link in a sliding window, so that guessing is slow.
ALTER TABLE share_links
    ADD COLUMN failed_unlocks integer NOT NULL DEFAULT 0,
    ADD COLUMN unlock_window_started_at timestamptz;
