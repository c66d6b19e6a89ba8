-- depends: 0005.recovery
-- Issue 14. Capture facts read once by the worker: when (EXIF DateTimeOriginal, or a video's
-- creation time; taken_at_offset is the local UTC offset in minutes when the file names one,
-- otherwise the local time was stored as if it were UTC), the camera, and the place (owner only:
-- never in a share view nor in a derived file). The derived files added: JPEG thumbnail and
-- preview beside the WebP ones, the H.264 web rendition, and each video file's RFC 6381 codecs.
ALTER TABLE media
    ADD COLUMN taken_at           timestamptz,
    ADD COLUMN taken_at_offset    smallint CHECK (taken_at_offset BETWEEN -840 AND 840),
    ADD COLUMN camera_make        text CHECK (length(camera_make) <= 100),
    ADD COLUMN camera_model       text CHECK (length(camera_model) <= 100),
    ADD COLUMN latitude           double precision CHECK (latitude BETWEEN -90 AND 90),
    ADD COLUMN longitude          double precision CHECK (longitude BETWEEN -180 AND 180),
    ADD COLUMN thumbnail_jpeg_key text,
    ADD COLUMN preview_jpeg_key   text,
    ADD COLUMN web_key            text,
    ADD COLUMN web_size_bytes     bigint,
    ADD COLUMN original_codecs    text,
    ADD COLUMN playback_codecs    text,
    ADD COLUMN web_codecs         text,
    -- Where an item sits on a timeline: when it was taken, or else when it was uploaded.
    ADD COLUMN timeline_at        timestamptz GENERATED ALWAYS AS (coalesce(taken_at, created_at)) STORED;
-- Keyset pages by capture time, per owner, id as the tie-breaker (equal dates are common: bursts).
CREATE INDEX media_owner_timeline_idx ON media (owner_id, timeline_at DESC, id DESC);
