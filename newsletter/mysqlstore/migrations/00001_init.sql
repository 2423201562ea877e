-- +goose Up
CREATE TABLE newsletter_subscriptions (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  email           VARCHAR(254) NOT NULL,
  list            VARCHAR(32)  NOT NULL,
  status          VARCHAR(16)  NOT NULL, -- pending, confirmed, unsubscribed
  source          VARCHAR(64)  NOT NULL,
  policy_version  VARCHAR(64)  NOT NULL,
  created_at      DATETIME(6)  NOT NULL,
  confirmed_at    DATETIME(6)  NULL,
  left_at         DATETIME(6)  NULL,
  confirm_hash    BINARY(32)   NULL,     -- SHA-256 of the mailed confirmation token
  confirm_sent_at DATETIME(6)  NULL,
  confirm_expires DATETIME(6)  NULL,
  UNIQUE KEY by_email_list (email, list),
  KEY by_members (list, status, id),     -- a campaign's next batch
  KEY by_confirm (confirm_hash),
  KEY by_expiry (status, confirm_expires),
  KEY by_left (status, left_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE newsletter_campaigns (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  list        VARCHAR(32)  NOT NULL,
  subject     VARCHAR(200) NOT NULL,
  markdown    MEDIUMTEXT   NOT NULL,
  html        MEDIUMTEXT   NOT NULL,
  text        MEDIUMTEXT   NOT NULL,
  status      VARCHAR(16)  NOT NULL,
  send_at     DATETIME(6)  NULL,
  cursor_id   BIGINT UNSIGNED NOT NULL DEFAULT 0, -- last subscription id enqueued
  total       INT NOT NULL DEFAULT 0,
  enqueued    INT NOT NULL DEFAULT 0,
  skipped     INT NOT NULL DEFAULT 0,
  created_by  VARCHAR(64)  NOT NULL,
  created_at  DATETIME(6)  NOT NULL,
  updated_at  DATETIME(6)  NOT NULL,
  started_at  DATETIME(6)  NULL,
  finished_at DATETIME(6)  NULL,
  KEY by_due (status, send_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE newsletter_sync (
  name      VARCHAR(32) NOT NULL PRIMARY KEY,
  cursor_id BIGINT UNSIGNED NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

INSERT INTO newsletter_sync (name, cursor_id) VALUES ('consents', 0);

-- +goose Down
DROP TABLE newsletter_sync;
DROP TABLE newsletter_campaigns;
DROP TABLE newsletter_subscriptions;
