-- migrate:up
CREATE TABLE calibration (
    sensor VARCHAR(32) NOT NULL PRIMARY KEY,
    offset_value DOUBLE PRECISION NOT NULL,
    scale DOUBLE PRECISION NOT NULL
);
INSERT INTO calibration (sensor, offset_value, scale)
SELECT DISTINCT sensor, 1.0, 1.5 FROM readings;
UPDATE readings SET value = value * 1.5 + 1.0 WHERE id > 0;
-- migrate:down
DROP TABLE calibration;
