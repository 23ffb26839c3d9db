-- The comparison keys of each nickname (src/names.rs): a new name whose
-- folded key or skeleton equals an existing one's is refused as a look-alike.
-- Not unique: a database made by the original may hold look-alikes already,
-- and those accounts keep logging in by their exact name. NULL until the
-- platform computes the key at start-up (rows written by the original).
ALTER TABLE users ADD COLUMN IF NOT EXISTS name_key TEXT;
ALTER TABLE users ADD COLUMN IF NOT EXISTS name_skeleton TEXT;
CREATE INDEX IF NOT EXISTS users_name_key_idx ON users (name_key);
CREATE INDEX IF NOT EXISTS users_name_skeleton_idx ON users (name_skeleton);
