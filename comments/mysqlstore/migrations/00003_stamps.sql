-- +goose Up
-- Form stamps that posted a comment, kept until the stamp expires so that one
-- served form posts one comment (audit #13 finding 16), in every process that
-- shares the database. A row holds a hash of the stamp and its expiry: nothing
-- about the person who sent it.
CREATE TABLE comments_stamps (
  hash       BINARY(32)  NOT NULL PRIMARY KEY,
  expires_at DATETIME(6) NOT NULL,
  KEY by_expiry (expires_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE comments_stamps;
