-- migrate:up
ALTER TABLE readings ADD COLUMN unit VARCHAR(8) NOT NULL DEFAULT 'C';
UPDATE readings SET unit = 'K', value = value + 273.15 WHERE id % 2 = 0;
-- migrate:down
ALTER TABLE readings DROP COLUMN unit;
