-- HTML templates that modules store (`post_template`) and read back
-- (`get_template`, `GET /template`), as the 2021-11 original did. A
-- template belongs to the module that first stored it; only that module
-- may overwrite it. Names follow the platform's rule (src/db/templates.rs),
-- repeated here so that no other writer can store one that breaks it.
-- Times are Unix seconds.
CREATE TABLE IF NOT EXISTS templates (
    name TEXT PRIMARY KEY CHECK (name ~ '^[A-Za-z0-9._-]{1,100}$'),
    owner TEXT NOT NULL,
    body TEXT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Counting a module's templates, for `template_max_per_module`.
CREATE INDEX IF NOT EXISTS templates_owner_idx ON templates (owner);
