-- The whole MediaVault data model (DESIGN.md): users, sessions, API tokens, media, tags,
-- collections, share links and processing jobs. Tokens of every kind are stored only as hashes.
-- Everything a user owns hangs off owner_id, and the list indexes lead with it so that queries
-- stay flat as one user's library grows.

CREATE TABLE users (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    discord_id    text UNIQUE,
    username      text NOT NULL CHECK (length(username) BETWEEN 1 AND 100),
    avatar_url    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    last_login_at timestamptz
);
-- Local accounts (made by `mediavault token create`) have no Discord id: their names are unique.
CREATE UNIQUE INDEX users_local_username_key ON users (lower(username)) WHERE discord_id IS NULL;

CREATE TABLE sessions (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    last_used_at timestamptz,
    user_agent   text
);
CREATE INDEX sessions_user_idx ON sessions (user_id);
CREATE INDEX sessions_expires_idx ON sessions (expires_at);

CREATE TABLE api_tokens (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    token_hash   bytea NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id, created_at);

CREATE TABLE media (
    id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id             uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title                text,
    filename             text NOT NULL CHECK (length(filename) BETWEEN 1 AND 255),
    content_type         text NOT NULL,
    kind                 text NOT NULL DEFAULT 'other'
                         CHECK (kind IN ('video', 'image', 'audio', 'other')),
    status               text NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'processing', 'ready', 'failed')),
    error                text,
    size_bytes           bigint NOT NULL CHECK (size_bytes >= 0),
    original_key         text NOT NULL UNIQUE,
    upload_id            text,
    playback_key         text,
    thumbnail_key        text,
    preview_key          text,
    width                integer,
    height               integer,
    duration_ms          bigint,
    video_codec          text,
    audio_codec          text,
    video_bitrate        bigint,
    audio_bitrate        bigint,
    frame_rate           double precision,
    original_size_bytes  bigint,
    playback_size_bytes  bigint,
    created_at           timestamptz NOT NULL DEFAULT now(),
    updated_at           timestamptz NOT NULL DEFAULT now()
);
-- Keyset pagination: newest first, id as the tie-breaker, per owner and per common filter.
CREATE INDEX media_owner_created_idx ON media (owner_id, created_at DESC, id DESC);
CREATE INDEX media_owner_status_created_idx ON media (owner_id, status, created_at DESC, id DESC);
CREATE INDEX media_owner_kind_created_idx ON media (owner_id, kind, created_at DESC, id DESC);
-- The reconcile pass looks for stuck rows across all owners.
CREATE INDEX media_unfinished_idx ON media (status, updated_at)
    WHERE status IN ('pending', 'processing');

CREATE TABLE tags (
    id         uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id   uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 64),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX tags_owner_name_key ON tags (owner_id, lower(name));

CREATE TABLE media_tags (
    media_id uuid NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    tag_id   uuid NOT NULL REFERENCES tags (id) ON DELETE CASCADE,
    PRIMARY KEY (media_id, tag_id)
);
CREATE INDEX media_tags_tag_idx ON media_tags (tag_id, media_id);

CREATE TABLE collections (
    id          uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    owner_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    description text NOT NULL DEFAULT '',
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX collections_owner_created_idx ON collections (owner_id, created_at DESC, id DESC);

CREATE TABLE collection_items (
    collection_id uuid NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    media_id      uuid NOT NULL REFERENCES media (id) ON DELETE CASCADE,
    position      bigint NOT NULL,
    added_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection_id, media_id)
);
CREATE INDEX collection_items_order_idx ON collection_items (collection_id, position);
CREATE INDEX collection_items_media_idx ON collection_items (media_id);

CREATE TABLE share_links (
    id             uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    collection_id  uuid NOT NULL REFERENCES collections (id) ON DELETE CASCADE,
    token_hash     bytea NOT NULL UNIQUE,
    password_hash  text,
    allow_download boolean NOT NULL DEFAULT false,
    expires_at     timestamptz,
    revoked_at     timestamptz,
    view_count     bigint NOT NULL DEFAULT 0,
    last_viewed_at timestamptz,
    created_at     timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX share_links_collection_idx ON share_links (collection_id, created_at);

CREATE TABLE processing_jobs (
    id           uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    media_id     uuid NOT NULL UNIQUE REFERENCES media (id) ON DELETE CASCADE,
    state        text NOT NULL DEFAULT 'queued'
                 CHECK (state IN ('queued', 'running', 'succeeded', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    encoder      text,
    progress     real NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
    error        text,
    timings      jsonb NOT NULL DEFAULT '{}'::jsonb,
    started_at   timestamptz,
    finished_at  timestamptz,
    heartbeat_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX processing_jobs_stale_idx ON processing_jobs (state, heartbeat_at)
    WHERE state = 'running';
