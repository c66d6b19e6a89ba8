-- depends: 0005.recovery
-- The MIME type with codecs (RFC 6381) of the original and of the playback file, from the probe:
-- a <source> that names its codecs lets a browser without that decoder fall back to the next.
ALTER TABLE media ADD COLUMN original_mime text, ADD COLUMN playback_mime text;
