-- One row naming this installation: a random id made once, when first asked for, that
-- makes its Message-IDs unlike any other installation's.
CREATE TABLE installation (
    singleton  INTEGER PRIMARY KEY CHECK (singleton = 1),
    id         TEXT NOT NULL
);
