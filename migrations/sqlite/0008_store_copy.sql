-- Progress of `outcry store copy` into this store: the row '*' for the copy as a whole,
-- one row per table copied. A copy that stopped half-way is resumed from here, and only a
-- store with an unfinished copy from the same source is not refused as non-empty.
CREATE TABLE store_copy (
    table_name  TEXT PRIMARY KEY,
    source      TEXT NOT NULL,
    rows_copied BIGINT NOT NULL DEFAULT 0,
    finished    BIGINT NOT NULL DEFAULT 0
);
