-- migrate:up
INSERT INTO accounts (id, email, created_at) VALUES (1, 'demo@example.com', '2026-01-03T09:00:00Z');

-- migrate:down
DELETE FROM accounts WHERE id = 1;
