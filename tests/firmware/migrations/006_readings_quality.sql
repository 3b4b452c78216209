-- migrate:up
CREATE TABLE readings_new (
    id INTEGER NOT NULL PRIMARY KEY,
    sensor VARCHAR(32) NOT NULL,
    taken_at INTEGER NOT NULL,
    value DOUBLE PRECISION NOT NULL,
    unit VARCHAR(8) NOT NULL DEFAULT 'C',
    quality INTEGER NOT NULL DEFAULT 100 CHECK (quality BETWEEN 0 AND 100)
);
INSERT INTO readings_new (id, sensor, taken_at, value, unit)
SELECT id, sensor, taken_at, value, unit FROM readings;
DROP TABLE readings;
ALTER TABLE readings_new RENAME TO readings;
CREATE INDEX readings_sensor_time ON readings (sensor, taken_at);
-- migrate:down
SELECT 1;
