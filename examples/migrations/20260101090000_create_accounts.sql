-- migrate:up
CREATE TABLE IF NOT EXISTS accounts (
    id INTEGER NOT NULL PRIMARY KEY,
    email VARCHAR(200) NOT NULL,
    created_at VARCHAR(32) NOT NULL,
    CONSTRAINT accounts_email UNIQUE (email)
);

-- migrate:down
DROP TABLE IF EXISTS accounts;
