-- +goose Up
CREATE TABLE comments_comments (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  thread       VARCHAR(200) NOT NULL,
  parent_id    BIGINT UNSIGNED NOT NULL DEFAULT 0,
  name         VARCHAR(80)  NOT NULL,
  email        VARCHAR(254) NOT NULL, -- '' once erased or deleted
  source       MEDIUMTEXT   NOT NULL,
  html         MEDIUMTEXT   NOT NULL,
  digest       CHAR(64)     NOT NULL,
  status       VARCHAR(16)  NOT NULL,
  follow_up    BOOLEAN      NOT NULL,
  hue          TINYINT      NOT NULL DEFAULT 0,
  manage_hash  BINARY(32)   NULL,
  created_at   DATETIME(6)  NOT NULL,
  edited_at    DATETIME(6)  NULL,
  moderated_at DATETIME(6)  NULL,
  UNIQUE KEY by_manage (manage_hash),
  KEY by_thread (thread, id),
  KEY by_email (email, status),
  KEY by_status (status, thread, id),
  KEY by_moderated (status, moderated_at),
  KEY by_digest (digest, created_at),
  KEY by_parent (parent_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE comments_subscribers (
  email           VARCHAR(254) NOT NULL PRIMARY KEY,
  confirm_hash    BINARY(32)   NULL,
  confirm_expires DATETIME(6)  NOT NULL,
  confirmed_at    DATETIME(6)  NULL,
  stopped_at      DATETIME(6)  NULL,
  stop_hash       BINARY(32)   NOT NULL,
  created_at      DATETIME(6)  NOT NULL,
  UNIQUE KEY by_confirm (confirm_hash),
  UNIQUE KEY by_stop (stop_hash)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE comments_subscribers;
DROP TABLE comments_comments;
