-- depends: 0011.checked-duplicates
-- Fixed-window counters of costly actions (sign-in starts per client network, API tokens made
-- per user), shared by every instance of a function. Keys are hashes: no address is stored.
CREATE TABLE rate_limit_windows (
    scope             text NOT NULL,
    key               text NOT NULL,
    hits              integer NOT NULL,
    window_started_at timestamptz NOT NULL,
    PRIMARY KEY (scope, key)
);
CREATE INDEX rate_limit_windows_started_idx ON rate_limit_windows (window_started_at);
