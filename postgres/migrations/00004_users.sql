-- Users, their roles per project and their tokens (stored hashed), the
-- audit log, the server's secret, and owners of jobs and runs. Roles and
-- tokens go with their user (ON DELETE CASCADE); what a user owns keeps
-- the owner's name.

-- +goose Up
ALTER TABLE jobs ADD COLUMN owner text COLLATE "C" NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN owner text COLLATE "C" NOT NULL DEFAULT '';

CREATE TABLE users (
	name text COLLATE "C" PRIMARY KEY,
	admin boolean NOT NULL DEFAULT false,
	password_hash text NOT NULL DEFAULT '',
	created_at bigint NOT NULL,
	updated_at bigint NOT NULL
);

CREATE TABLE user_roles (
	user_name text COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	project text COLLATE "C" NOT NULL,
	role text NOT NULL,
	PRIMARY KEY (user_name, project)
);
CREATE INDEX user_roles_project ON user_roles (project);

CREATE TABLE tokens (
	id text COLLATE "C" PRIMARY KEY,
	hash text COLLATE "C" NOT NULL UNIQUE,
	kind text NOT NULL,
	user_name text COLLATE "C" NOT NULL REFERENCES users (name) ON DELETE CASCADE,
	name text NOT NULL DEFAULT '',
	prefix text NOT NULL DEFAULT '',
	project text COLLATE "C" NOT NULL DEFAULT '',
	role text NOT NULL DEFAULT '',
	created_by text NOT NULL DEFAULT '',
	created_at bigint NOT NULL,
	expires_at bigint NOT NULL DEFAULT 0,
	revoked_at bigint NOT NULL DEFAULT 0
);
CREATE INDEX tokens_user ON tokens (user_name, created_at DESC);
CREATE INDEX tokens_created ON tokens (created_at DESC, id DESC);

-- Append-only: seq orders entries (newest first in lists).
CREATE TABLE audit (
	seq bigserial PRIMARY KEY,
	time bigint NOT NULL,
	actor text COLLATE "C" NOT NULL,
	action text COLLATE "C" NOT NULL,
	target text NOT NULL,
	project text COLLATE "C" NOT NULL DEFAULT '',
	detail text NOT NULL DEFAULT ''
);
CREATE INDEX audit_actor ON audit (actor, seq);
CREATE INDEX audit_project ON audit (project, seq);
CREATE INDEX audit_action ON audit (action, seq);

CREATE TABLE settings (
	key text COLLATE "C" PRIMARY KEY,
	value bytea NOT NULL
);

-- +goose Down
DROP TABLE settings;
DROP TABLE audit;
DROP TABLE tokens;
DROP TABLE user_roles;
DROP TABLE users;
ALTER TABLE runs DROP COLUMN owner;
ALTER TABLE jobs DROP COLUMN owner;
