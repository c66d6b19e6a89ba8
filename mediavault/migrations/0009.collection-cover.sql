-- depends: 0008.checksums
-- cover_media_id: the cover its owner chose; NULL means automatic (the first ready item). Deleting
-- the media clears it here; taking it out of the collection clears it in mediavault/collections.py.
ALTER TABLE collections ADD COLUMN cover_media_id uuid REFERENCES media (id) ON DELETE SET NULL;
-- Deleting a media looks up the collections it covers: without this, a scan of every collection.
CREATE INDEX collections_cover_idx ON collections (cover_media_id) WHERE cover_media_id IS NOT NULL;
