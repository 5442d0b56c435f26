-- Mirrors migrations/sqlite/0003_source_health.sql (issue 5).
ALTER TABLE source_state ADD COLUMN health TEXT NOT NULL DEFAULT 'ok'
    CHECK (health IN ('ok', 'failing', 'blind'));
ALTER TABLE source_state ADD COLUMN failing_since TEXT;
ALTER TABLE source_state ADD COLUMN down_alerted BIGINT NOT NULL DEFAULT 0;
ALTER TABLE source_state ADD COLUMN last_items BIGINT;
ALTER TABLE source_state ADD COLUMN last_poll_at TEXT;

ALTER TABLE alerts ADD COLUMN source TEXT;
