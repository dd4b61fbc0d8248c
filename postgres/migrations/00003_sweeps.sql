-- Sweeps (hyperparameter searches) and their trials, as on SQLite. A
-- sweep's spec and searcher snapshot and each trial are JSON text as
-- trainyard wrote them, so that they read back exactly; a trial is one
-- document, read and written whole, always with its sweep. best_value is
-- text so that NaN and ±Inf keep their form.

-- +goose Up
CREATE TABLE sweeps (
	id text COLLATE "C" PRIMARY KEY,
	name text NOT NULL,
	project text COLLATE "C" NOT NULL,
	state text NOT NULL,
	reason text NOT NULL DEFAULT '',
	metric text NOT NULL,
	mode text NOT NULL,
	managed boolean NOT NULL,
	spec text NOT NULL,
	snapshot text NOT NULL DEFAULT '',
	best_trial integer NOT NULL DEFAULT 0,
	best_value text,
	version bigint NOT NULL DEFAULT 0,
	created_at bigint NOT NULL,
	updated_at bigint NOT NULL,
	ended_at bigint NOT NULL DEFAULT 0
);
CREATE INDEX sweeps_created ON sweeps (created_at DESC, id DESC);
CREATE INDEX sweeps_active ON sweeps (created_at, id) WHERE state IN ('RUNNING', 'PAUSED', 'STOPPING');

CREATE TABLE trials (
	sweep_id text COLLATE "C" NOT NULL REFERENCES sweeps (id),
	number integer NOT NULL,
	data text NOT NULL,
	PRIMARY KEY (sweep_id, number)
);

-- +goose Down
DROP TABLE trials;
DROP TABLE sweeps;
