-- +goose Up
-- Addresses compare case-insensitively (privacy.AddressKey, audit #13 finding 10):
-- export, erasure and the per-address limits find a person's rows whatever case
-- they were typed in. Each key is LOWER() of the address as typed, which stays
-- where it was; the keys are invisible, so SELECT * reads what it read before.
-- Nothing is merged: none of these tables holds one row per address. The actor
-- keys let an erasure find the staff address in the records its owner wrote.
ALTER TABLE privacy_outbox
  ADD COLUMN subject_key   VARCHAR(254) AS (LOWER(subject)) STORED INVISIBLE,
  ADD COLUMN recipient_key VARCHAR(254) AS (LOWER(recipient)) STORED INVISIBLE,
  ADD KEY by_subject_key (subject_key),
  ADD KEY by_recipient_key (recipient_key);
ALTER TABLE privacy_consent
  ADD COLUMN subject_key VARCHAR(254) AS (LOWER(subject)) STORED INVISIBLE,
  ADD KEY by_subject_key (subject_key, id);
ALTER TABLE privacy_access
  ADD COLUMN subject_key VARCHAR(254) AS (LOWER(subject)) STORED INVISIBLE,
  ADD COLUMN actor_key   VARCHAR(254) AS (LOWER(actor)) STORED INVISIBLE,
  ADD KEY by_subject_key (subject_key, id),
  ADD KEY by_actor_key (actor_key);
ALTER TABLE privacy_requests
  ADD COLUMN subject_key VARCHAR(254) AS (LOWER(subject)) STORED INVISIBLE,
  ADD KEY by_subject_key (subject_key, created_at);
ALTER TABLE privacy_disclosures
  ADD COLUMN subject_key VARCHAR(254) AS (LOWER(subject)) STORED INVISIBLE,
  ADD COLUMN actor_key   VARCHAR(254) AS (LOWER(actor)) STORED INVISIBLE,
  ADD KEY by_subject_key (subject_key, id),
  ADD KEY by_actor_key (actor_key);

-- +goose Down
ALTER TABLE privacy_disclosures DROP KEY by_actor_key, DROP KEY by_subject_key, DROP COLUMN actor_key, DROP COLUMN subject_key;
ALTER TABLE privacy_requests DROP KEY by_subject_key, DROP COLUMN subject_key;
ALTER TABLE privacy_access DROP KEY by_actor_key, DROP KEY by_subject_key, DROP COLUMN actor_key, DROP COLUMN subject_key;
ALTER TABLE privacy_consent DROP KEY by_subject_key, DROP COLUMN subject_key;
ALTER TABLE privacy_outbox DROP KEY by_recipient_key, DROP KEY by_subject_key, DROP COLUMN recipient_key, DROP COLUMN subject_key;
