-- Mirrors migrations/sqlite/0004_review.sql (issue 6).
ALTER TABLE links ADD COLUMN decided_by TEXT;
ALTER TABLE links ADD COLUMN decided_at TEXT;
CREATE INDEX links_state ON links (state);

CREATE TABLE audit (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      TEXT NOT NULL,
    at_ms   BIGINT NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at_ms);
