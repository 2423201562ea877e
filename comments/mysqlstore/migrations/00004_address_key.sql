-- +goose Up
-- Addresses compare case-insensitively (privacy.AddressKey, audit #13 finding 10):
-- a commenter's approved count, export and erasure find every comment whatever
-- case the address was typed in, and an address has one follow-up record. The key
-- is LOWER() of the address as typed, which stays in email for mail.
ALTER TABLE comments_comments
  ADD COLUMN email_key VARCHAR(254) AS (LOWER(email)) STORED INVISIBLE,
  DROP KEY by_email,
  ADD KEY by_email (email_key, status);

-- Follow-up records that differ only in the address's case are merged into one.
-- Stopping wins: a stopped record is kept if there is one (its stop stays
-- honoured); otherwise the earliest confirmed one, otherwise the earliest. The
-- links mailed for the records dropped stop working; the next comment asking for
-- follow-up gets a fresh confirmation if one is needed.
CREATE TABLE comments_case_merge ENGINE=InnoDB AS
SELECT email, ROW_NUMBER() OVER (PARTITION BY LOWER(email)
  ORDER BY stopped_at IS NOT NULL DESC, confirmed_at IS NOT NULL DESC, created_at, email) AS rn
FROM comments_subscribers;

DELETE s FROM comments_subscribers s JOIN comments_case_merge m ON m.email = s.email WHERE m.rn > 1;

DROP TABLE comments_case_merge;

ALTER TABLE comments_subscribers
  ADD COLUMN email_key VARCHAR(254) AS (LOWER(email)) STORED INVISIBLE,
  ADD UNIQUE KEY by_email_key (email_key);

-- +goose Down
ALTER TABLE comments_subscribers DROP KEY by_email_key, DROP COLUMN email_key;
ALTER TABLE comments_comments DROP KEY by_email, DROP COLUMN email_key, ADD KEY by_email (email, status);
