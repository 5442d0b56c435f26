-- Mirrors migrations/sqlite/0002_author_followers.sql.
ALTER TABLE observations ADD COLUMN author_followers BIGINT;
