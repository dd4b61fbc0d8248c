-- Where the scheduling leader serves its API: the other servers forward
-- sweep changes there ('' while no leader said, e.g. before this version).

-- +goose Up
ALTER TABLE leader ADD COLUMN url text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE leader DROP COLUMN url;
