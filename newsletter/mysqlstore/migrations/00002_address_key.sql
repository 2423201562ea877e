-- +goose Up
-- Addresses compare case-insensitively (privacy.AddressKey, audit #13 finding 10):
-- one subscriber per list whatever case the address is typed in. The key is
-- LOWER() of the address as typed, which stays in email for mail.
--
-- Rows that differ only in the address's case are merged into one per list. The
-- row kept is the earliest confirmed one, or the earliest when none is confirmed,
-- so the consent on record is the first the person gave. Leaving wins: when
-- another row of the group was unsubscribed after the kept row was confirmed
-- (or the kept row never was), the kept row is unsubscribed as of that time.
CREATE TABLE newsletter_case_merge ENGINE=InnoDB AS
SELECT id,
  ROW_NUMBER() OVER w AS rn,
  MAX(CASE WHEN status = 'unsubscribed' THEN COALESCE(left_at, created_at) END) OVER (PARTITION BY LOWER(email), list) AS left_at
FROM newsletter_subscriptions
WINDOW w AS (PARTITION BY LOWER(email), list ORDER BY status = 'confirmed' DESC, created_at, id);

UPDATE newsletter_subscriptions s JOIN newsletter_case_merge m ON m.id = s.id
SET s.status = 'unsubscribed', s.left_at = m.left_at, s.confirm_hash = NULL, s.confirm_sent_at = NULL, s.confirm_expires = NULL
WHERE m.rn = 1 AND m.left_at IS NOT NULL AND s.status <> 'unsubscribed' AND (s.confirmed_at IS NULL OR s.confirmed_at < m.left_at);

DELETE s FROM newsletter_subscriptions s JOIN newsletter_case_merge m ON m.id = s.id WHERE m.rn > 1;

DROP TABLE newsletter_case_merge;

ALTER TABLE newsletter_subscriptions
  ADD COLUMN email_key VARCHAR(254) AS (LOWER(email)) STORED INVISIBLE,
  DROP KEY by_email_list,
  ADD UNIQUE KEY by_email_list (email_key, list);

-- +goose Down
ALTER TABLE newsletter_subscriptions DROP KEY by_email_list, DROP COLUMN email_key, ADD UNIQUE KEY by_email_list (email, list);
