-- migrate:up
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER NOT NULL PRIMARY KEY,
    account_id INTEGER NOT NULL,
    total_cents BIGINT NOT NULL,
    status VARCHAR(20) NOT NULL,
    CONSTRAINT orders_account FOREIGN KEY (account_id) REFERENCES accounts (id)
);
-- No IF NOT EXISTS here: MySQL has none for CREATE INDEX, and on SQLite and
-- PostgreSQL this migration runs in one transaction, so it is never left
-- half-applied (the info finding `dbmgmt lint` shows for it is just that).
CREATE INDEX orders_account_id ON orders (account_id);

-- migrate:down
DROP TABLE IF EXISTS orders;
