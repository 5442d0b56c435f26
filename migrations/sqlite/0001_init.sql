-- Cases as the complaint team keeps them. The record column holds the whole case in the
-- cases.jsonl shape; brand and status are columns because queries filter on them.
CREATE TABLE cases (
    id          TEXT PRIMARY KEY,
    brand       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    record      TEXT NOT NULL,
    -- Bumped on every write so that a running daemon notices imports by other processes.
    revision    INTEGER NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX cases_brand_status ON cases (brand, status);

-- One row per public item, deduplicated per source and guid.
CREATE TABLE items (
    id             INTEGER PRIMARY KEY,
    source         TEXT NOT NULL,
    guid           TEXT NOT NULL,
    channel        TEXT NOT NULL,
    url            TEXT,
    title          TEXT,
    body           TEXT,
    author         TEXT,
    published_at   TEXT,
    first_seen_at  TEXT NOT NULL,
    -- The canonical brand the item mentions, NULL when it mentions none.
    brand          TEXT,
    UNIQUE (source, guid)
);
CREATE INDEX items_url ON items (url);

-- Every fetch of an item, with the engagement it showed then, so growth can be measured.
CREATE TABLE observations (
    id          INTEGER PRIMARY KEY,
    item_id     INTEGER NOT NULL REFERENCES items (id),
    fetched_at  TEXT NOT NULL,
    fetched_ms  INTEGER NOT NULL,
    reposts     INTEGER,
    comments    INTEGER,
    likes       INTEGER,
    views       INTEGER
);
CREATE INDEX observations_item ON observations (item_id, fetched_ms);

CREATE TABLE links (
    item_id     INTEGER NOT NULL REFERENCES items (id),
    case_id     TEXT NOT NULL REFERENCES cases (id),
    state       TEXT NOT NULL CHECK (state IN ('candidate', 'confirmed', 'rejected')),
    score       REAL NOT NULL,
    evidence    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (item_id, case_id)
);
CREATE INDEX links_case ON links (case_id);

-- The alert outbox. An alert row is written in the same transaction as the decision that
-- caused it; dedupe_key (case and stage, or item for unlinked alerts) makes a second alert
-- for the same step impossible.
CREATE TABLE alerts (
    id               INTEGER PRIMARY KEY,
    kind             TEXT NOT NULL,
    case_id          TEXT,
    brand            TEXT NOT NULL,
    item_id          INTEGER REFERENCES items (id),
    dedupe_key       TEXT NOT NULL UNIQUE,
    message_id       TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body_text        TEXT NOT NULL,
    body_html        TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL,
    lease_until_ms   INTEGER,
    last_error       TEXT,
    sent_at          TEXT
);
CREATE INDEX alerts_due ON alerts (status, next_attempt_ms);
CREATE INDEX alerts_case ON alerts (case_id);

-- What the scheduler remembers about each source between polls and restarts.
CREATE TABLE source_state (
    name                  TEXT PRIMARY KEY,
    etag                  TEXT,
    last_modified         TEXT,
    consecutive_failures  INTEGER NOT NULL DEFAULT 0,
    last_success_at       TEXT,
    last_error            TEXT,
    last_error_at         TEXT,
    items_seen            INTEGER NOT NULL DEFAULT 0
);
