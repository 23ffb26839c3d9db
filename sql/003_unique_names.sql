-- Nicknames and emails (ignoring case) name one account each. A database made
-- by the original may already hold duplicates, or belong to another role; the
-- platform then still checks uniqueness itself, and this step only warns.
DO $$
BEGIN
    CREATE UNIQUE INDEX IF NOT EXISTS users_name_unique ON users (name);
EXCEPTION WHEN unique_violation OR insufficient_privilege THEN
    RAISE WARNING 'users_name_unique not created: %', SQLERRM;
END $$;

DO $$
BEGIN
    CREATE UNIQUE INDEX IF NOT EXISTS users_lower_email_unique ON users (lower(email));
EXCEPTION WHEN unique_violation OR insufficient_privilege THEN
    RAISE WARNING 'users_lower_email_unique not created: %', SQLERRM;
    -- Without uniqueness, an index still keeps lookups by email fast.
    BEGIN
        CREATE INDEX IF NOT EXISTS users_lower_email_idx ON users (lower(email));
    EXCEPTION WHEN insufficient_privilege THEN
        RAISE WARNING 'users_lower_email_idx not created: %', SQLERRM;
    END;
END $$;
