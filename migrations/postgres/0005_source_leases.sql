-- Mirrors migrations/sqlite/0005_source_leases.sql.
CREATE TABLE source_leases (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    expires_ms  BIGINT NOT NULL,
    polled_ms   BIGINT
);
CREATE INDEX source_leases_owner ON source_leases (owner);
