-- migrate:up
CREATE TABLE readings (
    id INTEGER NOT NULL PRIMARY KEY,
    sensor VARCHAR(32) NOT NULL,
    taken_at INTEGER NOT NULL,
    value DOUBLE PRECISION NOT NULL
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4000)
INSERT INTO readings (id, sensor, taken_at, value)
SELECT i, 'sensor-' || (i % 16), 1700000000 + i * 60, (i % 97) * 0.5 FROM n;
-- migrate:down
DROP TABLE readings;
