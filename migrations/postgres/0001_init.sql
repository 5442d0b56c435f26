-- The PostgreSQL mirror of migrations/sqlite/0001_init.sql: the same tables and columns.
-- Times stay RFC 3339 text (they keep the offset the source published them with) beside
-- millisecond columns where queries compare them; integers are BIGINT so both backends
-- read them as i64.
CREATE TABLE cases (
    id          TEXT PRIMARY KEY,
    brand       TEXT NOT NULL,
    status      TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    record      TEXT NOT NULL,
    -- Taken from a sequence so that concurrent imports never share a revision.
    revision    BIGINT NOT NULL,
    updated_at  TEXT NOT NULL
);
CREATE INDEX cases_brand_status ON cases (brand, status);
CREATE SEQUENCE cases_revision;

CREATE TABLE items (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source         TEXT NOT NULL,
    guid           TEXT NOT NULL,
    channel        TEXT NOT NULL,
    url            TEXT,
    title          TEXT,
    body           TEXT,
    author         TEXT,
    published_at   TEXT,
    first_seen_at  TEXT NOT NULL,
    brand          TEXT,
    UNIQUE (source, guid)
);
CREATE INDEX items_url ON items (url);

CREATE TABLE observations (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    item_id     BIGINT NOT NULL REFERENCES items (id),
    fetched_at  TEXT NOT NULL,
    fetched_ms  BIGINT NOT NULL,
    reposts     BIGINT,
    comments    BIGINT,
    likes       BIGINT,
    views       BIGINT
);
CREATE INDEX observations_item ON observations (item_id, fetched_ms);

CREATE TABLE links (
    item_id     BIGINT NOT NULL REFERENCES items (id),
    case_id     TEXT NOT NULL REFERENCES cases (id),
    state       TEXT NOT NULL CHECK (state IN ('candidate', 'confirmed', 'rejected')),
    score       DOUBLE PRECISION NOT NULL,
    evidence    TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (item_id, case_id)
);
CREATE INDEX links_case ON links (case_id);

-- The alert outbox; dedupe_key (case and stage, or item for unlinked alerts) is unique, so
-- instances racing on the same decision store one alert.
CREATE TABLE alerts (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    kind             TEXT NOT NULL,
    case_id          TEXT,
    brand            TEXT NOT NULL,
    item_id          BIGINT REFERENCES items (id),
    dedupe_key       TEXT NOT NULL UNIQUE,
    message_id       TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body_text        TEXT NOT NULL,
    body_html        TEXT NOT NULL,
    created_at       TEXT NOT NULL,
    status           TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'cancelled')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms  BIGINT NOT NULL,
    lease_until_ms   BIGINT,
    last_error       TEXT,
    sent_at          TEXT
);
CREATE INDEX alerts_due ON alerts (status, next_attempt_ms);
CREATE INDEX alerts_case ON alerts (case_id);

CREATE TABLE source_state (
    name                  TEXT PRIMARY KEY,
    etag                  TEXT,
    last_modified         TEXT,
    consecutive_failures  BIGINT NOT NULL DEFAULT 0,
    last_success_at       TEXT,
    last_error            TEXT,
    last_error_at         TEXT,
    items_seen            BIGINT NOT NULL DEFAULT 0
);
