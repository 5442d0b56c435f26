-- Chat and webhook channels (src/alert/chat.rs). A chat message is written from the alert's
-- facts (brand, severity, headline, reasons, evidence links) as JSON, stored with the alert
-- in the decision's transaction.
ALTER TABLE alerts ADD COLUMN facts TEXT;

-- When each channel was first configured: it gets the alerts from `first_alert` on.
CREATE TABLE channels (
    name         TEXT PRIMARY KEY,
    first_alert  INTEGER NOT NULL,
    added_ms     INTEGER NOT NULL
);

-- One row per (alert, channel), made from the alert row by the channel's worker: `pending`
-- rows are claimed, sent and retried like the mail outbox; `skipped` records that the
-- channel's route does not take the alert. The key makes a second row impossible.
CREATE TABLE alert_deliveries (
    alert_id         INTEGER NOT NULL REFERENCES alerts (id),
    channel          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'skipped', 'cancelled')),
    attempts         INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms  INTEGER NOT NULL,
    lease_until_ms   INTEGER,
    last_error       TEXT,
    last_error_ms    INTEGER,
    sent_ms          INTEGER,
    created_ms       INTEGER NOT NULL,
    PRIMARY KEY (alert_id, channel)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (channel, status, next_attempt_ms);
