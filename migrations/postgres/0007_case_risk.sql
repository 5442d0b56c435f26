-- Mirrors migrations/sqlite/0007_case_risk.sql.
CREATE TABLE case_risk (
    case_id      TEXT PRIMARY KEY,
    score        DOUBLE PRECISION NOT NULL,
    reasons      TEXT NOT NULL,
    computed_at  TEXT NOT NULL,
    crossed_at   TEXT
);
