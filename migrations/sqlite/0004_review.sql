-- Review by complaint leads and operators (issue 6).

-- Who decided a link and when; NULL for links the linker decided on its own.
ALTER TABLE links ADD COLUMN decided_by TEXT;
ALTER TABLE links ADD COLUMN decided_at TEXT;
CREATE INDEX links_state ON links (state);

-- Every write through the API or the web pages: who (the token's name), what (an action and
-- its target, with details as JSON) and when.
CREATE TABLE audit (
    id      INTEGER PRIMARY KEY,
    at      TEXT NOT NULL,
    at_ms   INTEGER NOT NULL,
    actor   TEXT NOT NULL,
    action  TEXT NOT NULL,
    target  TEXT NOT NULL,
    detail  TEXT NOT NULL
);
CREATE INDEX audit_at ON audit (at_ms);
