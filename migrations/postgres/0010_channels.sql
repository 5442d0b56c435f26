-- Chat and webhook channels (src/alert/chat.rs). A chat message is written from the alert's
-- facts (brand, severity, headline, reasons, evidence links) as JSON, stored with the alert
-- in the decision's transaction.
ALTER TABLE alerts ADD COLUMN facts TEXT;

-- When each channel was first configured: it gets the alerts from `first_alert` on.
CREATE TABLE channels (
    name         TEXT PRIMARY KEY,
    first_alert  BIGINT NOT NULL,
    added_ms     BIGINT NOT NULL
);

-- One row per (alert, channel), made from the alert row by the channel's worker: `pending`
-- rows are claimed, sent and retried like the mail outbox; `skipped` records that the
-- channel's route does not take the alert. The key makes a second row impossible.
CREATE TABLE alert_deliveries (
    alert_id         BIGINT NOT NULL REFERENCES alerts (id),
    channel          TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('pending', 'sent', 'skipped', 'cancelled')),
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_ms  BIGINT NOT NULL,
    lease_until_ms   BIGINT,
    last_error       TEXT,
    last_error_ms    BIGINT,
    sent_ms          BIGINT,
    created_ms       BIGINT NOT NULL,
    PRIMARY KEY (alert_id, channel)
);
CREATE INDEX alert_deliveries_due ON alert_deliveries (channel, status, next_attempt_ms);
