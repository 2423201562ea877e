-- +goose Up
-- A thread's version changes in the transaction of every change to what the
-- thread shows, so a process can cache the rendered thread under it. Rows are
-- never deleted: a thread identifier is the host's page, not personal data.
CREATE TABLE comments_threads (
  thread  VARCHAR(200) NOT NULL PRIMARY KEY,
  version BIGINT       NOT NULL
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE comments_threads;
