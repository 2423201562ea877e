-- +goose Up
-- The password chosen with the registration a verification link was mailed for
-- (audit #13 finding 2). Tokens mailed before this migration have none and verify
-- without touching the password, as they did.
ALTER TABLE accounts_tokens ADD COLUMN password_hash VARCHAR(512) NOT NULL DEFAULT '' AFTER email;

-- +goose Down
ALTER TABLE accounts_tokens DROP COLUMN password_hash;
