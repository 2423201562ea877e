-- +goose Up
ALTER TABLE accounts_sessions
  ADD COLUMN device   VARCHAR(80) NOT NULL DEFAULT '',
  ADD COLUMN proved_at DATETIME(6) NULL;

CREATE TABLE accounts_factors (
  id           VARCHAR(32)    NOT NULL PRIMARY KEY,
  account_id   VARCHAR(32)    NOT NULL,
  kind         VARCHAR(16)    NOT NULL,
  secret       VARBINARY(2048) NOT NULL,
  created_at   DATETIME(6)    NOT NULL,
  confirmed_at DATETIME(6)    NULL,
  last_used_at DATETIME(6)    NULL,
  step         BIGINT         NOT NULL DEFAULT 0,
  KEY by_account (account_id, created_at),
  CONSTRAINT accounts_factors_account FOREIGN KEY (account_id) REFERENCES accounts_accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE accounts_recovery_codes (
  account_id VARCHAR(32) NOT NULL,
  hash       CHAR(64)    NOT NULL,
  PRIMARY KEY (account_id, hash),
  CONSTRAINT accounts_recovery_account FOREIGN KEY (account_id) REFERENCES accounts_accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE accounts_challenges (
  hash       CHAR(64)    NOT NULL PRIMARY KEY,
  kind       VARCHAR(16) NOT NULL,
  account_id VARCHAR(32) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  KEY by_account (account_id),
  KEY by_expiry (expires_at),
  CONSTRAINT accounts_challenges_account FOREIGN KEY (account_id) REFERENCES accounts_accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE accounts_challenges;
DROP TABLE accounts_recovery_codes;
DROP TABLE accounts_factors;
ALTER TABLE accounts_sessions DROP COLUMN proved_at, DROP COLUMN device;
