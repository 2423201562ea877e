-- +goose Up
CREATE TABLE privacy_outbox (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  purpose     VARCHAR(32)  NOT NULL,
  subject     VARCHAR(254) NOT NULL,
  recipient   VARCHAR(254) NOT NULL,
  ref         VARCHAR(100) NOT NULL DEFAULT '',
  body        MEDIUMTEXT   NOT NULL,
  state       TINYINT      NOT NULL DEFAULT 0, -- 0 queued, 1 sent, 2 failed
  attempts    INT          NOT NULL DEFAULT 0,
  due_at      DATETIME(6)  NOT NULL,
  owner       VARCHAR(32)  NULL,
  lease_until DATETIME(6)  NULL,
  last_error  VARCHAR(500) NOT NULL DEFAULT '',
  created_at  DATETIME(6)  NOT NULL,
  ended_at    DATETIME(6)  NULL,
  KEY by_due (state, due_at, id),
  KEY by_ref (ref, state),
  KEY by_subject (subject),
  KEY by_recipient (recipient),
  KEY by_ended (state, ended_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE privacy_suppression (
  address    VARCHAR(254) NOT NULL PRIMARY KEY,
  reason     VARCHAR(200) NOT NULL,
  created_at DATETIME(6)  NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE privacy_consent (
  id             BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  subject        VARCHAR(254) NOT NULL,
  purpose        VARCHAR(32)  NOT NULL,
  granted        BOOLEAN      NOT NULL,
  policy_version VARCHAR(64)  NOT NULL,
  source         VARCHAR(64)  NOT NULL,
  at             DATETIME(6)  NOT NULL,
  KEY by_subject (subject, id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE privacy_access (
  id       BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  actor_id VARCHAR(64)  NOT NULL,
  actor    VARCHAR(254) NOT NULL,
  role     VARCHAR(32)  NOT NULL,
  subject  VARCHAR(254) NOT NULL,
  what     VARCHAR(200) NOT NULL,
  why      VARCHAR(200) NOT NULL,
  at       DATETIME(6)  NOT NULL,
  KEY by_subject (subject, id),
  KEY by_actor (actor_id, id),
  KEY by_at (at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE privacy_access;
DROP TABLE privacy_consent;
DROP TABLE privacy_suppression;
DROP TABLE privacy_outbox;
