-- migrate:up
CREATE TABLE accounts (
    id INTEGER NOT NULL PRIMARY KEY,
    email VARCHAR(200) NOT NULL,
    created_at VARCHAR(32) NOT NULL
);
CREATE UNIQUE INDEX accounts_email ON accounts (email);

-- migrate:down
DROP TABLE accounts;
