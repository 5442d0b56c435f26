-- Each open case's latest reported risk (crate::risk): the score, its reasons as JSON, and
-- when it was computed. crossed_at is set while the case stands above `[risk] alert_at` since
-- an upward crossing (its at_risk alert's dedupe key carries it), and cleared once the risk
-- falls back, so the next crossing alerts again.
CREATE TABLE case_risk (
    case_id      TEXT PRIMARY KEY,
    score        REAL NOT NULL,
    reasons      TEXT NOT NULL,
    computed_at  TEXT NOT NULL,
    crossed_at   TEXT
);
