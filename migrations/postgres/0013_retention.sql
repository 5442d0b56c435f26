-- Bounded storage (issue 18). An observation row stands for a run of sightings that showed
-- the same counts and text: a sighting that changes nothing extends the run's last_seen_ms
-- instead of adding a row, and a new row starts at least hourly (the heartbeat), so a
-- series still shows when a post stopped being seen. NULL: seen once.
ALTER TABLE observations ADD COLUMN last_seen_ms BIGINT;
-- A digest of the title and body the sighting showed, so an edit starts a new row.
ALTER TABLE observations ADD COLUMN text_digest BIGINT;

-- Retention keeps items an alert still refers to; this finds them without a scan.
CREATE INDEX alerts_item ON alerts (item_id);

-- When every source had first been polled: a new installation's first digest is the first
-- one due after it, not one mailed at once about nothing.
ALTER TABLE installation ADD COLUMN first_round_ms BIGINT;
