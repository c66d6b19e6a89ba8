-- depends: 0001.initial-schema
-- Pending Discord sign-ins: one row per `state`, consumed exactly once by the callback, bound to
-- the browser that started it (hash of a random value kept in a signed cookie), with the PKCE
-- verifier kept server-side.

CREATE TABLE oauth_login_states (
    state_hash    bytea PRIMARY KEY,
    browser_hash  bytea NOT NULL,
    code_verifier text NOT NULL,
    next_path     text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    expires_at    timestamptz NOT NULL
);
CREATE INDEX oauth_login_states_expires_idx ON oauth_login_states (expires_at);
