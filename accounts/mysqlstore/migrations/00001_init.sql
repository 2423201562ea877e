-- +goose Up
CREATE TABLE accounts_accounts (
  id            VARCHAR(32)  NOT NULL PRIMARY KEY,
  email         VARCHAR(254) NOT NULL,
  display_name  VARCHAR(400) NOT NULL DEFAULT '',
  password_hash VARCHAR(512) NOT NULL,
  verified      BOOLEAN      NOT NULL DEFAULT FALSE,
  age_screen    VARCHAR(20)  NOT NULL,
  parent_email  VARCHAR(254) NOT NULL DEFAULT '',
  failures      INT          NOT NULL DEFAULT 0,
  fail_since    DATETIME(6)  NULL,
  last_failure  DATETIME(6)  NULL,
  created_at    DATETIME(6)  NOT NULL,
  verified_at   DATETIME(6)  NULL,
  UNIQUE KEY by_email (email),
  KEY by_parent (parent_email),
  KEY by_unverified (verified, created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE accounts_roles (
  account_id VARCHAR(32) NOT NULL,
  role       VARCHAR(32) NOT NULL,
  PRIMARY KEY (account_id, role),
  KEY by_role (role),
  CONSTRAINT accounts_roles_account FOREIGN KEY (account_id) REFERENCES accounts_accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE accounts_sessions (
  hash       CHAR(64)    NOT NULL PRIMARY KEY,
  account_id VARCHAR(32) NOT NULL,
  created_at DATETIME(6) NOT NULL,
  last_seen  DATETIME(6) NOT NULL,
  expires_at DATETIME(6) NOT NULL,
  KEY by_account (account_id),
  KEY by_expiry (expires_at),
  KEY by_last_seen (last_seen),
  CONSTRAINT accounts_sessions_account FOREIGN KEY (account_id) REFERENCES accounts_accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE accounts_tokens (
  hash       CHAR(64)     NOT NULL PRIMARY KEY,
  kind       VARCHAR(16)  NOT NULL,
  account_id VARCHAR(32)  NOT NULL,
  email      VARCHAR(254) NOT NULL,
  created_at DATETIME(6)  NOT NULL,
  expires_at DATETIME(6)  NOT NULL,
  KEY by_email (email, kind),
  KEY by_account (account_id),
  KEY by_expiry (expires_at),
  CONSTRAINT accounts_tokens_account FOREIGN KEY (account_id) REFERENCES accounts_accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE accounts_resources (
  id           VARCHAR(32)  NOT NULL PRIMARY KEY,
  account_id   VARCHAR(32)  NOT NULL,
  kind         VARCHAR(16)  NOT NULL,
  title        VARCHAR(800) NOT NULL DEFAULT '',
  body         MEDIUMTEXT   NOT NULL,
  content_type VARCHAR(64)  NOT NULL DEFAULT '',
  data         MEDIUMBLOB   NULL,
  size         BIGINT       NOT NULL,
  visibility   VARCHAR(16)  NOT NULL,
  created_at   DATETIME(6)  NOT NULL,
  KEY by_account (account_id, created_at),
  KEY by_visibility (visibility, created_at),
  CONSTRAINT accounts_resources_account FOREIGN KEY (account_id) REFERENCES accounts_accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE accounts_parental (
  id           VARCHAR(32)  NOT NULL PRIMARY KEY,
  parent_email VARCHAR(254) NOT NULL,
  token_hash   CHAR(64)     NOT NULL,
  code_hash    CHAR(64)     NOT NULL,
  created_at   DATETIME(6)  NOT NULL,
  approved_at  DATETIME(6)  NULL,
  confirmed_at DATETIME(6)  NULL,
  account_id   VARCHAR(32)  NULL,
  UNIQUE KEY by_token (token_hash),
  UNIQUE KEY by_code (code_hash),
  KEY by_parent (parent_email),
  KEY by_created (created_at),
  KEY by_due (confirmed_at, approved_at),
  CONSTRAINT accounts_parental_account FOREIGN KEY (account_id) REFERENCES accounts_accounts (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE accounts_parental;
DROP TABLE accounts_resources;
DROP TABLE accounts_tokens;
DROP TABLE accounts_sessions;
DROP TABLE accounts_roles;
DROP TABLE accounts_accounts;
