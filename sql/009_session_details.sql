-- Where each session was started, so that users can tell their sessions
-- apart and end the ones they do not recognise, and when each account last
-- logged in, for the administrators' list. Rows from before this step keep
-- NULL: unknown.
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS address TEXT;
ALTER TABLE sessions ADD COLUMN IF NOT EXISTS user_agent TEXT;
ALTER TABLE users ADD COLUMN IF NOT EXISTS last_login BIGINT;
