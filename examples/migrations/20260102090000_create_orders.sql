-- migrate:up
CREATE TABLE orders (
    id INTEGER NOT NULL PRIMARY KEY,
    account_id INTEGER NOT NULL,
    total_cents BIGINT NOT NULL,
    status VARCHAR(20) NOT NULL,
    CONSTRAINT orders_account FOREIGN KEY (account_id) REFERENCES accounts (id)
);
CREATE INDEX orders_account_id ON orders (account_id);

-- migrate:down
DROP TABLE orders;
