-- trainyard's schema on PostgreSQL. Times are Unix microseconds (0: none),
-- as on SQLite. JSON documents (a job's spec, a run's config, tags and
-- summary) are text as trainyard wrote them, so that they read back
-- exactly. Text that searches compare or sort is COLLATE "C": bytewise,
-- as trainyard's reference search (package runquery) compares.

-- +goose Up
CREATE TABLE jobs (
	id text COLLATE "C" PRIMARY KEY,
	spec text NOT NULL,
	project text COLLATE "C" NOT NULL,
	priority integer NOT NULL,
	state text NOT NULL,
	reason text NOT NULL DEFAULT '',
	exit_code integer,
	version bigint NOT NULL DEFAULT 0,
	placement text NOT NULL DEFAULT '[]',
	backend_id text NOT NULL DEFAULT '',
	launched boolean NOT NULL DEFAULT false,
	handle text NOT NULL DEFAULT '',
	restarts integer NOT NULL DEFAULT 0,
	-- a cancel asked for through a server that does not schedule; the
	-- leader acts on it (see dispatch)
	cancel_requested boolean NOT NULL DEFAULT false,
	submitted_at bigint NOT NULL,
	started_at bigint NOT NULL DEFAULT 0,
	ended_at bigint NOT NULL DEFAULT 0
);
CREATE INDEX jobs_active ON jobs (submitted_at, id) WHERE state IN ('QUEUED', 'RUNNING');
CREATE INDEX jobs_submitted ON jobs (submitted_at DESC, id DESC);
CREATE INDEX jobs_cancel_requested ON jobs (id) WHERE cancel_requested AND state IN ('QUEUED', 'RUNNING');

-- The scheduling leader (one row): its epoch rises at every election, and
-- a job update made for an older epoch is refused (fencing).
CREATE TABLE leader (
	id integer PRIMARY KEY CHECK (id = 1),
	epoch bigint NOT NULL,
	holder text NOT NULL DEFAULT '',
	since bigint NOT NULL DEFAULT 0
);
INSERT INTO leader (id, epoch) VALUES (1, 0);

CREATE TABLE experiments (
	id bigserial PRIMARY KEY,
	name text COLLATE "C" NOT NULL UNIQUE,
	artifact_location text NOT NULL DEFAULT '',
	deleted boolean NOT NULL DEFAULT false,
	tags text NOT NULL DEFAULT '{}',
	created_at bigint NOT NULL,
	updated_at bigint NOT NULL
);
INSERT INTO experiments (id, name, created_at, updated_at)
	VALUES (0, 'default', (extract(epoch FROM now()) * 1000000)::bigint, (extract(epoch FROM now()) * 1000000)::bigint);

CREATE TABLE runs (
	id text COLLATE "C" PRIMARY KEY,
	project text COLLATE "C" NOT NULL,
	project_lower text COLLATE "C" NOT NULL,
	name text COLLATE "C" NOT NULL,
	name_lower text COLLATE "C" NOT NULL,
	state text COLLATE "C" NOT NULL,
	job_id text COLLATE "C" NOT NULL DEFAULT '',
	config text NOT NULL DEFAULT '{}',
	tags text NOT NULL DEFAULT '{}',
	summary text NOT NULL DEFAULT '{}',
	command text NOT NULL DEFAULT '[]',
	workdir text NOT NULL DEFAULT '',
	git text NOT NULL DEFAULT '',
	exit_code integer,
	reason text NOT NULL DEFAULT '',
	deleted boolean NOT NULL DEFAULT false,
	created_at bigint NOT NULL,
	started_at bigint NOT NULL DEFAULT 0,
	ended_at bigint NOT NULL DEFAULT 0
);
CREATE INDEX runs_created ON runs (created_at DESC, id DESC);
CREATE INDEX runs_project_created ON runs (project, created_at DESC, id DESC);

-- A run's params (its config rendered as MLflow renders params) and tags,
-- a row each, for searches: value_lower for ILIKE, num for the values
-- that sort as numbers. runs.config and runs.tags stay the source.
CREATE TABLE run_params (
	run_id text COLLATE "C" NOT NULL REFERENCES runs (id),
	key text COLLATE "C" NOT NULL,
	value text COLLATE "C" NOT NULL,
	value_lower text COLLATE "C" NOT NULL,
	num double precision,
	PRIMARY KEY (run_id, key)
);
CREATE INDEX run_params_key_value ON run_params (key, value);
CREATE INDEX run_params_key_num ON run_params (key, num);
CREATE TABLE run_tags (
	run_id text COLLATE "C" NOT NULL REFERENCES runs (id),
	key text COLLATE "C" NOT NULL,
	value text COLLATE "C" NOT NULL,
	value_lower text COLLATE "C" NOT NULL,
	num double precision,
	PRIMARY KEY (run_id, key)
);
CREATE INDEX run_tags_key_value ON run_tags (key, value);
CREATE INDEX run_tags_key_num ON run_tags (key, num);

-- Metric series (package metricengine): the summary in columns (a search
-- reads the latest value), where the chunks stand, and a version for
-- writers in several processes.
CREATE TABLE series (
	id bigserial PRIMARY KEY,
	run_id text COLLATE "C" NOT NULL REFERENCES runs (id),
	key text COLLATE "C" NOT NULL,
	count bigint NOT NULL DEFAULT 0,
	last double precision NOT NULL DEFAULT 0,
	last_step bigint NOT NULL DEFAULT 0,
	last_time bigint NOT NULL DEFAULT 0,
	min double precision NOT NULL DEFAULT 'NaN',
	max double precision NOT NULL DEFAULT 'NaN',
	next_seq bigint NOT NULL DEFAULT 0,
	tail_start bigint NOT NULL DEFAULT 0,
	tail_small bigint NOT NULL DEFAULT 0,
	version bigint NOT NULL DEFAULT 0,
	UNIQUE (run_id, key)
);
CREATE INDEX series_key_last ON series (key, last) WHERE count > 0;
CREATE TABLE chunks (
	series_id bigint NOT NULL REFERENCES series (id),
	seq bigint NOT NULL,
	count integer NOT NULL,
	min_step bigint NOT NULL,
	max_step bigint NOT NULL,
	lod bytea,
	data bytea NOT NULL,
	-- the range of the points' times (Unix ms): a point identical to a
	-- stored one is looked for only in the chunks that may hold it
	min_time bigint NOT NULL,
	max_time bigint NOT NULL,
	PRIMARY KEY (series_id, seq)
);
-- Points are floats and varints: compressing them costs CPU and saves
-- little. Kept out of line, uncompressed.
ALTER TABLE chunks ALTER COLUMN data SET STORAGE EXTERNAL;
ALTER TABLE chunks ALTER COLUMN lod SET STORAGE EXTERNAL;
CREATE TABLE metric_batches (
	run_id text COLLATE "C" NOT NULL,
	batch_id text COLLATE "C" NOT NULL,
	PRIMARY KEY (run_id, batch_id)
);

CREATE TABLE run_io (
	run_id text COLLATE "C" PRIMARY KEY REFERENCES runs (id),
	data text NOT NULL
);

CREATE TABLE registered_models (
	name text COLLATE "C" PRIMARY KEY,
	description text NOT NULL DEFAULT '',
	tags text NOT NULL DEFAULT '{}',
	aliases text NOT NULL DEFAULT '{}',
	next_version bigint NOT NULL DEFAULT 1,
	created_at bigint NOT NULL,
	updated_at bigint NOT NULL
);
CREATE TABLE model_versions (
	name text COLLATE "C" NOT NULL REFERENCES registered_models (name) ON UPDATE CASCADE ON DELETE CASCADE,
	version bigint NOT NULL,
	source text NOT NULL,
	run_id text NOT NULL DEFAULT '',
	model_id text NOT NULL DEFAULT '',
	run_link text NOT NULL DEFAULT '',
	stage text NOT NULL DEFAULT 'None',
	description text NOT NULL DEFAULT '',
	tags text NOT NULL DEFAULT '{}',
	created_at bigint NOT NULL,
	updated_at bigint NOT NULL,
	PRIMARY KEY (name, version)
);
CREATE TABLE logged_models (
	id text COLLATE "C" PRIMARY KEY,
	experiment_id text NOT NULL,
	name text NOT NULL,
	artifact_location text NOT NULL,
	status text NOT NULL,
	status_message text NOT NULL DEFAULT '',
	source_run_id text NOT NULL DEFAULT '',
	model_type text NOT NULL DEFAULT '',
	tags text NOT NULL DEFAULT '{}',
	params text NOT NULL DEFAULT '{}',
	metrics text NOT NULL DEFAULT '[]', -- points logged with the model's ID (JSON, in the order logged)
	deleted boolean NOT NULL DEFAULT false,
	created_at bigint NOT NULL,
	updated_at bigint NOT NULL
);
CREATE INDEX logged_models_experiment ON logged_models (experiment_id, created_at DESC);

-- +goose Down
DROP TABLE logged_models, model_versions, registered_models, run_io, metric_batches, chunks, series,
	run_tags, run_params, runs, experiments, leader, jobs;
