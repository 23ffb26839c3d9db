-- The comparison keys of each nickname (src/names.rs): a new name whose
-- folded key or skeleton equals an existing one's is refused as a look-alike.
-- Not unique: a database made by the original may hold look-alikes already,
-- and those accounts keep logging in by their exact name. NULL until the
-- platform computes the key at start-up (rows written by the original).
ALTER TABLE users ADD COLUMN IF NOT EXISTS name_key TEXT;
ALTER TABLE users ADD COLUMN IF NOT EXISTS name_skeleton TEXT;
-- Hash indexes: keys are only compared for equality, and a key may be
-- kilobytes long (NFKC turns U+FDFA into 18 characters), more than a B-tree
-- entry may hold; a hash index keeps only the key's hash.
CREATE INDEX IF NOT EXISTS users_name_key_idx ON users USING hash (name_key);
CREATE INDEX IF NOT EXISTS users_name_skeleton_idx ON users USING hash (name_skeleton);
