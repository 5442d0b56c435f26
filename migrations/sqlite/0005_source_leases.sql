-- Which instance polls which source. A lease is held until expires_ms and renewed by its
-- owner's heartbeat; once expired any instance may take it. polled_ms is the last poll by
-- whichever instance held it, so a new holder keeps the source's interval.
CREATE TABLE source_leases (
    name        TEXT PRIMARY KEY,
    owner       TEXT NOT NULL,
    expires_ms  INTEGER NOT NULL,
    polled_ms   INTEGER
);
CREATE INDEX source_leases_owner ON source_leases (owner);
