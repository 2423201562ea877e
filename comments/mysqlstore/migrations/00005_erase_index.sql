-- +goose Up
-- Erasure decides which of a commenter's comments stay as tombstones from their
-- ids and parents alone: with the parent in the address key's index, it reads
-- the index and none of the rows.
ALTER TABLE comments_comments DROP KEY by_email, ADD KEY by_email (email_key, status, parent_id);

-- +goose Down
ALTER TABLE comments_comments DROP KEY by_email, ADD KEY by_email (email_key, status);
