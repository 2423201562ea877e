-- +goose Up
-- The keys of the batches added, so a batch sent again after a lost answer (its
-- commit may have been applied) is added once. Random keys and a time: nothing here
-- names a visitor. Add prunes keys older than tracking.KeyMemory.
CREATE TABLE tracking_batches (
    batch_key VARCHAR(64) NOT NULL,
    added_at  DATETIME(6) NOT NULL,
    PRIMARY KEY (batch_key),
    KEY by_added (added_at)
) ENGINE = InnoDB DEFAULT CHARSET = ascii COLLATE = ascii_bin;

-- +goose Down
DROP TABLE tracking_batches;
