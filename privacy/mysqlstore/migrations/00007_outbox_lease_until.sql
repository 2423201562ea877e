-- +goose Up
-- A claim's lease ends when the row's due_at says (a claim moves it to the
-- lease's end), so lease_until, written with it, was never read: every claim,
-- leased enqueue and mark wrote it, and nothing else.
ALTER TABLE privacy_outbox DROP COLUMN lease_until;

-- +goose Down
ALTER TABLE privacy_outbox ADD COLUMN lease_until DATETIME(6) NULL AFTER owner;
UPDATE privacy_outbox SET lease_until = due_at WHERE state = 0 AND owner IS NOT NULL;
