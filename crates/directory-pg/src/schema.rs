//! The database's schema, versioned: migration N brings a database at
//! version N-1 to N, each in its own transaction, so `directory init` is
//! idempotent and upgrades an older database in place.
//!
//! Every table of the site has a statement-level trigger that bumps the one
//! policy version and announces it with `pg_notify`, so nodes learn of any
//! change, whoever made it (an admin command, or SQL by hand).

/// The channel on which a change is announced, with the new version.
pub const CHANNEL: &str = "portcullis_directory";

/// Migration N (from 1) in slot N-1.
pub(crate) const MIGRATIONS: &[&str] = &[r#"
CREATE TABLE policy_version (
    id boolean PRIMARY KEY DEFAULT true CHECK (id),
    version bigint NOT NULL
);
INSERT INTO policy_version VALUES (true, 0);
CREATE TABLE domains (name text PRIMARY KEY);
-- credentials: the user's line in the users file's format (Argon2id, SCRAM
-- keys, CRAM-MD5 state; never a password).
CREATE TABLE users (
    name text PRIMARY KEY,
    credentials text NOT NULL,
    admin boolean NOT NULL DEFAULT false
);
CREATE TABLE aliases (name text PRIMARY KEY, targets text[] NOT NULL);
CREATE TABLE relay_settings (key text PRIMARY KEY, value text NOT NULL);
CREATE TABLE relay_allow (position integer PRIMARY KEY, entry text NOT NULL);
CREATE TABLE routes (domain text PRIMARY KEY, target text NOT NULL);
CREATE TABLE nodes (
    name text PRIMARY KEY,
    applied bigint,
    seen_at timestamptz NOT NULL
);
CREATE FUNCTION portcullis_bump() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE v bigint;
BEGIN
    UPDATE policy_version SET version = version + 1 RETURNING version INTO v;
    PERFORM pg_notify('portcullis_directory', v::text);
    RETURN NULL;
END $$;
DO $$
DECLARE t text;
BEGIN
    FOREACH t IN ARRAY ARRAY['domains', 'users', 'aliases', 'relay_settings', 'relay_allow', 'routes'] LOOP
        EXECUTE format('CREATE TRIGGER bump AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I
            FOR EACH STATEMENT EXECUTE FUNCTION portcullis_bump()', t);
    END LOOP;
END $$;
"#];

/// The schema version this code writes and reads.
pub const CURRENT: i32 = MIGRATIONS.len() as i32;

/// The migrations a database at version `applied` still needs, each with
/// the version it reaches.
pub(crate) fn pending(applied: i32) -> impl Iterator<Item = (i32, &'static str)> {
    MIGRATIONS
        .iter()
        .enumerate()
        .map(|(i, sql)| (i as i32 + 1, *sql))
        .filter(move |(version, _)| *version > applied)
}

/// The table recording the schema version; made before any migration.
pub(crate) const VERSION_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS portcullis_schema (version integer NOT NULL)";
