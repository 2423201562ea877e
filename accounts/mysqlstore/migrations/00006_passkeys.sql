-- +goose Up
CREATE TABLE accounts_passkeys (
  id            VARCHAR(32)     NOT NULL PRIMARY KEY,
  account_id    VARCHAR(32)     NOT NULL,
  name          VARCHAR(100)    NOT NULL,
  credential_id VARBINARY(1023) NOT NULL,
  data          BLOB            NOT NULL,
  created_at    DATETIME(6)     NOT NULL,
  last_used_at  DATETIME(6)     NULL,
  UNIQUE KEY by_credential (credential_id),
  KEY by_account (account_id, created_at),
  CONSTRAINT accounts_passkeys_account FOREIGN KEY (account_id) REFERENCES accounts_accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- A sign-in with a passkey alone names no account until it ends.
CREATE TABLE accounts_ceremonies (
  hash       CHAR(64)    NOT NULL PRIMARY KEY,
  kind       VARCHAR(16) NOT NULL,
  account_id VARCHAR(32) NULL,
  data       BLOB        NOT NULL,
  created_at DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  KEY by_account (account_id),
  KEY by_expiry (expires_at),
  CONSTRAINT accounts_ceremonies_account FOREIGN KEY (account_id) REFERENCES accounts_accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE accounts_ceremonies;
DROP TABLE accounts_passkeys;
