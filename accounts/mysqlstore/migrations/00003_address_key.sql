-- +goose Up
-- Addresses compare case-insensitively (privacy.AddressKey, audit #13 finding 10):
-- every look-up by address, and the one-account-per-address key, use LOWER() of
-- the address as typed, which stays in email / parent_email for mail.
--
-- Two accounts whose addresses differ only in case cannot both stay under the new
-- unique key, and which one the person uses is theirs to say: Store.Migrate
-- refuses to run this migration while any exist and names their account ids.
ALTER TABLE accounts_accounts
  ADD COLUMN email_key  VARCHAR(254) AS (LOWER(email)) STORED,
  ADD COLUMN parent_key VARCHAR(254) AS (LOWER(parent_email)) STORED,
  DROP KEY by_email,
  ADD UNIQUE KEY by_email (email_key),
  DROP KEY by_parent,
  ADD KEY by_parent (parent_key);

ALTER TABLE accounts_tokens
  ADD COLUMN email_key VARCHAR(254) AS (LOWER(email)) STORED,
  DROP KEY by_email,
  ADD KEY by_email (email_key, kind);

ALTER TABLE accounts_parental
  ADD COLUMN parent_key VARCHAR(254) AS (LOWER(parent_email)) STORED,
  DROP KEY by_parent,
  ADD KEY by_parent (parent_key);

-- +goose Down
ALTER TABLE accounts_parental DROP KEY by_parent, DROP COLUMN parent_key, ADD KEY by_parent (parent_email);
ALTER TABLE accounts_tokens DROP KEY by_email, DROP COLUMN email_key, ADD KEY by_email (email, kind);
ALTER TABLE accounts_accounts DROP KEY by_parent, DROP KEY by_email, DROP COLUMN parent_key, DROP COLUMN email_key,
  ADD UNIQUE KEY by_email (email), ADD KEY by_parent (parent_email);
