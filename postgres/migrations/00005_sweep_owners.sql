-- Owners of sweeps: the user who created each one ('' for the sweeps made
-- before, and on a server without users; once users exist only admins
-- steer those, as with jobs and runs).

-- +goose Up
ALTER TABLE sweeps ADD COLUMN owner text COLLATE "C" NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE sweeps DROP COLUMN owner;
