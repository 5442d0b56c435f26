-- Source health (src/health.rs): whether a source sees its site, since when it has not,
-- whether the operator was told, and what its last poll found.
ALTER TABLE source_state ADD COLUMN health TEXT NOT NULL DEFAULT 'ok'
    CHECK (health IN ('ok', 'failing', 'blind'));
ALTER TABLE source_state ADD COLUMN failing_since TEXT;
ALTER TABLE source_state ADD COLUMN down_alerted INTEGER NOT NULL DEFAULT 0;
ALTER TABLE source_state ADD COLUMN last_items INTEGER;
ALTER TABLE source_state ADD COLUMN last_poll_at TEXT;

-- Operator alerts (kinds source-down / source-up) name the source they are about.
ALTER TABLE alerts ADD COLUMN source TEXT;
