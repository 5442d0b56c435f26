-- The author's reach when the source shows it, per observation: it changes over time like
-- the engagement counts beside it.
ALTER TABLE observations ADD COLUMN author_followers INTEGER;
