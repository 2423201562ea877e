-- +goose Up
-- Sign-in failures are throttled in memory, by a keyed hash of the address typed,
-- whether or not it has an account (audit #13 findings 8 and 15): the per-account
-- counts are no longer written or read.
ALTER TABLE accounts_accounts DROP COLUMN failures, DROP COLUMN fail_since, DROP COLUMN last_failure;

-- +goose Down
ALTER TABLE accounts_accounts
  ADD COLUMN failures     INT         NOT NULL DEFAULT 0 AFTER parent_email,
  ADD COLUMN fail_since   DATETIME(6) NULL AFTER failures,
  ADD COLUMN last_failure DATETIME(6) NULL AFTER fail_since;
