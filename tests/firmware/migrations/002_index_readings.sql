-- migrate:up
CREATE INDEX readings_sensor_time ON readings (sensor, taken_at);
-- migrate:down
DROP INDEX readings_sensor_time;
