-- migrate:up
CREATE TABLE readings (
    id INTEGER NOT NULL PRIMARY KEY,
    sensor VARCHAR(32) NOT NULL,
    taken_at INTEGER NOT NULL,
    value DOUBLE PRECISION NOT NULL
);
-- migrate:down
DROP TABLE readings;
