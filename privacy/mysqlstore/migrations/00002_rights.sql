-- +goose Up
-- Suppressed addresses are kept as their SHA-256 (hex), never in the clear.
DROP TABLE privacy_suppression;
CREATE TABLE privacy_suppression (
  address_hash CHAR(64)     NOT NULL PRIMARY KEY,
  reason       VARCHAR(200) NOT NULL,
  created_at   DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE privacy_requests (
  id            BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  kind          VARCHAR(16)  NOT NULL,
  subject       VARCHAR(254) NOT NULL,
  token_hash    BINARY(32)   NOT NULL,
  created_at    DATETIME(6)  NOT NULL,
  confirmed     BOOLEAN      NOT NULL DEFAULT FALSE,
  download_hash BINARY(32)   NULL,
  download_by   DATETIME(6)  NULL,
  UNIQUE KEY by_token (token_hash),
  UNIQUE KEY by_download (download_hash),
  KEY by_subject (subject, created_at),
  KEY by_created (created_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE privacy_rights_events (
  id      BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  kind    VARCHAR(16) NOT NULL,
  holders INT         NOT NULL,
  records INT         NOT NULL,
  at      DATETIME(6) NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE privacy_disclosures (
  id        BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  subject   VARCHAR(254)  NOT NULL,
  basis     VARCHAR(32)   NOT NULL,
  reference VARCHAR(200)  NOT NULL,
  requester VARCHAR(200)  NOT NULL,
  note      VARCHAR(2000) NOT NULL,
  actor_id  VARCHAR(64)   NOT NULL,
  actor     VARCHAR(254)  NOT NULL,
  holders   INT           NOT NULL,
  at        DATETIME(6)   NOT NULL,
  KEY by_subject (subject, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE privacy_disclosures;
DROP TABLE privacy_rights_events;
DROP TABLE privacy_requests;
DROP TABLE privacy_suppression;
CREATE TABLE privacy_suppression (
  address    VARCHAR(254) NOT NULL PRIMARY KEY,
  reason     VARCHAR(200) NOT NULL,
  created_at DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;
