-- depends: 0009.collection-cover
-- Issue 20. What a share link hands out as an original. include_location: the owner chose to
-- let this link's downloads keep where they were made (off unless chosen). shared_original_key:
-- the object a link without it serves, written by the worker: the original itself when it names
-- no place, else a copy with the place removed (metadata rewritten, nothing re-encoded). NULL
-- until the worker has looked (media processed before this migration): such an original is not
-- handed out by a link that does not include locations.
ALTER TABLE share_links ADD COLUMN include_location boolean NOT NULL DEFAULT false;
ALTER TABLE media ADD COLUMN shared_original_key text;
