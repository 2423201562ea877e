-- +goose Up
CREATE TABLE contact_requests (
  id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  ref        CHAR(9)      NOT NULL,
  name       VARCHAR(100) NOT NULL DEFAULT '',
  email      VARCHAR(254) NOT NULL,
  email_lc   VARCHAR(254) NOT NULL, -- lower-cased, so export and erasure miss no spelling
  subject    VARCHAR(150) NOT NULL,
  message    MEDIUMTEXT   NOT NULL,
  category   VARCHAR(64)  NOT NULL DEFAULT '',
  status     VARCHAR(16)  NOT NULL,
  ack_sent   BOOLEAN      NOT NULL DEFAULT FALSE,
  created_at DATETIME(6)  NOT NULL,
  updated_at DATETIME(6)  NOT NULL,
  closed_at  DATETIME(6)  NULL,
  UNIQUE KEY by_ref (ref),
  KEY by_email (email, status, closed_at),
  KEY by_email_lc (email_lc, created_at),
  KEY by_status (status, created_at, id),
  KEY by_created (created_at, id),
  KEY by_closed (status, closed_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

CREATE TABLE contact_replies (
  id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  request_id BIGINT UNSIGNED NOT NULL,
  staff_id   VARCHAR(64)  NOT NULL DEFAULT '',
  staff      VARCHAR(254) NOT NULL DEFAULT '',
  text       MEDIUMTEXT   NOT NULL,
  created_at DATETIME(6)  NOT NULL,
  KEY by_request (request_id, id),
  CONSTRAINT contact_replies_request FOREIGN KEY (request_id) REFERENCES contact_requests (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE contact_replies;
DROP TABLE contact_requests;
