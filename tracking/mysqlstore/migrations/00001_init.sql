-- Page-view counters, one table per dimension and never a column that could name a
-- visitor: a period, its start, a value and a count. The primary key leads with the
-- start so that reports read a range and rollups lock one.

-- +goose Up
CREATE TABLE tracking_paths (
    period       ENUM('hour', 'day', 'month') NOT NULL,
    period_start DATETIME(6)     NOT NULL,
    path         VARCHAR(255)    NOT NULL,
    views        BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (period_start, period, path)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE tracking_domains (
    period       ENUM('hour', 'day', 'month') NOT NULL,
    period_start DATETIME(6)     NOT NULL,
    domain       VARCHAR(255)    NOT NULL,
    views        BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (period_start, period, domain)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE tracking_browsers (
    period       ENUM('hour', 'day', 'month') NOT NULL,
    period_start DATETIME(6)     NOT NULL,
    browser      VARCHAR(255)    NOT NULL,
    views        BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (period_start, period, browser)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE tracking_mime_types (
    period       ENUM('hour', 'day', 'month') NOT NULL,
    period_start DATETIME(6)     NOT NULL,
    mime_type    VARCHAR(255)    NOT NULL,
    views        BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (period_start, period, mime_type)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

CREATE TABLE tracking_bots (
    period       ENUM('hour', 'day', 'month') NOT NULL,
    period_start DATETIME(6)     NOT NULL,
    views        BIGINT UNSIGNED NOT NULL,
    PRIMARY KEY (period_start, period)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- +goose Down
DROP TABLE tracking_bots;
DROP TABLE tracking_mime_types;
DROP TABLE tracking_browsers;
DROP TABLE tracking_domains;
DROP TABLE tracking_paths;
