-- migrate:up
CREATE TABLE events (
    id INTEGER NOT NULL PRIMARY KEY,
    at INTEGER NOT NULL,
    kind VARCHAR(16) NOT NULL,
    detail TEXT
);
WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000)
INSERT INTO events (id, at, kind, detail)
SELECT i, 1700000000 + i * 7, CASE i % 3 WHEN 0 THEN 'boot' WHEN 1 THEN 'alarm' ELSE 'sample' END,
       'event number ' || i FROM n;
CREATE INDEX events_at ON events (at);
-- migrate:down
DROP TABLE events;
