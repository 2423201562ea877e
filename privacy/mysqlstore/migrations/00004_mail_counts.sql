-- +goose Up
-- Per-recipient mail limits (privacy.MailLimits): one counter per purpose and
-- address, stored under a keyed hash of both, never the address, and deleted by the
-- purge once its window has ended.
CREATE TABLE privacy_mail_counts (
  key_hash CHAR(64)    NOT NULL PRIMARY KEY,
  sent     INT         NOT NULL,
  ends_at  DATETIME(6) NOT NULL,
  KEY by_ends (ends_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE privacy_mail_counts;
