-- +goose Up
-- An erasure pseudonymises the staff address in the records its owner wrote, so the
-- access log and the disclosure register are searched by actor as well as by subject.
ALTER TABLE privacy_access ADD KEY by_actor_address (actor);
ALTER TABLE privacy_disclosures ADD KEY by_actor_address (actor);

-- +goose Down
ALTER TABLE privacy_disclosures DROP KEY by_actor_address;
ALTER TABLE privacy_access DROP KEY by_actor_address;
