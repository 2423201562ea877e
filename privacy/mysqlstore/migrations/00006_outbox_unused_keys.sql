-- +goose Up
-- Since 00005 the outbox is looked up by address through subject_key and
-- recipient_key: the keys on the addresses as typed were never read again, and
-- every message enqueued still wrote both.
ALTER TABLE privacy_outbox DROP KEY by_subject, DROP KEY by_recipient;

-- +goose Down
ALTER TABLE privacy_outbox ADD KEY by_subject (subject), ADD KEY by_recipient (recipient);
