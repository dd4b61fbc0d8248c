// Package sqlite implements trainyard.Store on SQLite, the embedded default.
//
// Durability: the database runs in WAL mode with synchronous=FULL, so every
// commit is fsynced before a write returns: acknowledged data survives a
// kill -9 of the server and a power cut. Metric appends are group-committed
// (one writer goroutine folds concurrent batches into one transaction and
// one fsync), which is what keeps FULL affordable. Options.Sync = "NORMAL"
// trades the power-cut guarantee (not the kill -9 one) for fewer fsyncs.
//
// Metrics are stored as chunks (package chunk): columnar blocks of up to
// 4096 points per series, one row each. Each append batch becomes a chunk
// per series; a background step merges the small chunks at a series' tail
// into full ones, so long series are a few hundred rows.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/metricengine"
	_ "modernc.org/sqlite" // the pure-Go driver: the binary stays static
)

// Options tune a Store. The zero value is the default.
type Options struct {
	// Sync is SQLite's synchronous setting: "FULL" (default) or "NORMAL".
	Sync string
	// Clock defaults to time.Now.
	Clock trainyard.Clock
}

// Store is a trainyard.Store on one SQLite file.
type Store struct {
	w     *sql.DB // one connection: every write goes through it
	r     *sql.DB // readers
	clock trainyard.Clock
	mb    *metricBackend
	me    *metricengine.Engine // metric series (group commit, chunks, compaction)
	cp    *checkpointer
	jc    *jobCreator
	index runIndex // runs in memory for SearchRuns
}

var _ trainyard.Store = (*Store)(nil)

// Open opens or creates the database at path and brings its schema up to
// date.
//
// A full disk does not stop it: SQLite needs a little space to open a
// database whose last connection closed cleanly (its shared-memory index,
// the -shm file, is created again), so a reserve file of ReserveBytes is
// kept next to the database (path + "-reserve") while there is room for
// it. When opening fails and the reserve is there, it is deleted, which
// frees that room, and the open is tried again: the server starts and
// answers reads, and writes fail with ENOSPACE until space is freed (they
// work again, without a restart, once it is). The reserve is made again at
// a later start.
func Open(ctx context.Context, path string, opt Options) (*Store, error) {
	s, err := open(ctx, path, opt)
	if err != nil && releaseReserve(path) {
		slog.Warn("could not open the database; released its disk reserve and trying again", "path", path, "err", err)
		s, err = open(ctx, path, opt)
	}
	if err != nil {
		if trainyard.DiskFull(err) || isShmError(err) {
			return nil, fmt.Errorf("open %s: the disk is full and there is no reserve left to release: free space on it: %w", path, err)
		}
		return nil, err
	}
	keepReserve(path)
	return s, nil
}

func open(ctx context.Context, path string, opt Options) (*Store, error) {
	sync := strings.ToUpper(opt.Sync)
	if sync == "" {
		sync = "FULL"
	}
	if sync != "FULL" && sync != "NORMAL" {
		return nil, trainyard.FieldError("sync", "%q is not FULL or NORMAL", opt.Sync)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("create database directory: %w", err)
	}
	dsn := func(extra string) string {
		return "file:" + path + "?_pragma=page_size(16384)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)" +
			"&_pragma=synchronous(" + sync + ")&_pragma=foreign_keys(ON)&_pragma=cache_size(-32768)" + extra
	}
	// The writer never checkpoints: a checkpoint copies the WAL into the
	// database file and syncs it, tens of milliseconds that every waiting
	// append would wait through. The checkpointer does it on a connection
	// of its own (see checkpoint.go).
	w, err := sql.Open("sqlite", dsn("&_txlock=immediate&_pragma=wal_autocheckpoint(0)"))
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("migrate %s: %w", path, err)
	}
	r, err := sql.Open("sqlite", dsn("&_pragma=query_only(ON)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open %s for reading: %w", path, err)
	}
	n := max(4, runtime.NumCPU()*2)
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	clock := opt.Clock
	if clock == nil {
		clock = time.Now
	}
	s := &Store{w: w, r: r, clock: clock}
	if s.mb, err = newMetricBackend(ctx, s); err != nil {
		r.Close()
		w.Close()
		return nil, err
	}
	if s.cp, err = startCheckpointer(path, dsn("")); err != nil {
		s.mb.close()
		r.Close()
		w.Close()
		return nil, err
	}
	s.me = metricengine.New(s.mb, metricengine.Options{OnCommit: s.index.changedMany})
	s.jc = newJobCreator(s)
	return s, nil
}

// Close stops the metric writer and the checkpointer and closes the
// database (the last connection to close checkpoints what is left).
func (s *Store) Close() error {
	s.jc.stop()
	s.me.Close()
	s.mb.close()
	s.cp.stop()
	return errors.Join(s.r.Close(), s.cp.db.Close(), s.w.Close())
}

var migrations = []string{
	`CREATE TABLE jobs (
		id TEXT PRIMARY KEY,
		spec TEXT NOT NULL,
		project TEXT NOT NULL,
		priority INTEGER NOT NULL,
		state TEXT NOT NULL,
		reason TEXT NOT NULL DEFAULT '',
		exit_code INTEGER,
		gpus TEXT NOT NULL DEFAULT '[]',
		pid INTEGER NOT NULL DEFAULT 0,
		handle TEXT NOT NULL DEFAULT '',
		restarts INTEGER NOT NULL DEFAULT 0,
		submitted_at INTEGER NOT NULL,
		started_at INTEGER NOT NULL DEFAULT 0,
		ended_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX jobs_active ON jobs(submitted_at) WHERE state IN ('QUEUED', 'RUNNING');
	CREATE INDEX jobs_submitted ON jobs(submitted_at DESC);
	CREATE TABLE runs (
		id TEXT PRIMARY KEY,
		project TEXT NOT NULL,
		name TEXT NOT NULL,
		state TEXT NOT NULL,
		job_id TEXT NOT NULL DEFAULT '',
		config TEXT NOT NULL DEFAULT '{}',
		tags TEXT NOT NULL DEFAULT '{}',
		summary TEXT NOT NULL DEFAULT '{}',
		command TEXT NOT NULL DEFAULT '[]',
		workdir TEXT NOT NULL DEFAULT '',
		git TEXT NOT NULL DEFAULT '',
		exit_code INTEGER,
		reason TEXT NOT NULL DEFAULT '',
		created_at INTEGER NOT NULL,
		started_at INTEGER NOT NULL DEFAULT 0,
		ended_at INTEGER NOT NULL DEFAULT 0
	);
	CREATE INDEX runs_created ON runs(created_at DESC, id);
	CREATE INDEX runs_project_created ON runs(project, created_at DESC, id);
	CREATE TABLE series (
		id INTEGER PRIMARY KEY,
		run_id TEXT NOT NULL REFERENCES runs(id),
		key TEXT NOT NULL,
		summary TEXT NOT NULL,
		next_seq INTEGER NOT NULL DEFAULT 0,
		tail_start INTEGER NOT NULL DEFAULT 0,
		tail_small INTEGER NOT NULL DEFAULT 0,
		UNIQUE (run_id, key)
	);
	CREATE TABLE chunks (
		series_id INTEGER NOT NULL REFERENCES series(id),
		seq INTEGER NOT NULL,
		count INTEGER NOT NULL,
		min_step INTEGER NOT NULL,
		max_step INTEGER NOT NULL,
		data BLOB NOT NULL,
		PRIMARY KEY (series_id, seq)
	);
	CREATE TABLE metric_batches (
		run_id TEXT NOT NULL,
		batch_id TEXT NOT NULL,
		PRIMARY KEY (run_id, batch_id)
	) WITHOUT ROWID;`,
	// 2: experiments (MLflow's name for projects), soft-deleted runs, run
	// inputs and outputs, the model registry and logged models.
	migrationTracking,
	// 3: each chunk's level of detail (package chunk), stored before its
	// points so that a chart reads a few kilobytes a chunk and stops: the
	// table is rebuilt with the column in that place. Chunks written before
	// have none (NULL); reads of them decode the points.
	`CREATE TABLE chunks3 (
		series_id INTEGER NOT NULL REFERENCES series(id),
		seq INTEGER NOT NULL,
		count INTEGER NOT NULL,
		min_step INTEGER NOT NULL,
		max_step INTEGER NOT NULL,
		lod BLOB,
		data BLOB NOT NULL,
		PRIMARY KEY (series_id, seq)
	);
	INSERT INTO chunks3 (series_id, seq, count, min_step, max_step, data)
		SELECT series_id, seq, count, min_step, max_step, data FROM chunks;
	DROP TABLE chunks;
	ALTER TABLE chunks3 RENAME TO chunks;`,
	// 4: jobs over many nodes: a version for compare-and-set updates, the
	// placement on each node (the GPUs of older jobs move there, on an
	// unnamed node), the engine's id, and whether the current attempt was
	// handed to the executor. pid and gpus stay unused.
	`ALTER TABLE jobs ADD COLUMN version INTEGER NOT NULL DEFAULT 0;
	ALTER TABLE jobs ADD COLUMN placement TEXT NOT NULL DEFAULT '[]';
	ALTER TABLE jobs ADD COLUMN backend_id TEXT NOT NULL DEFAULT '';
	ALTER TABLE jobs ADD COLUMN launched INTEGER NOT NULL DEFAULT 0;
	UPDATE jobs SET launched = 1 WHERE state = 'RUNNING';
	UPDATE jobs SET placement = json_array(json_object('node', '', 'gpus', json(gpus))) WHERE gpus != '[]';
	UPDATE jobs SET backend_id = CAST(pid AS TEXT) WHERE pid != 0;`,
	// 5: metrics of logged models (MLflow's log-metric with a model_id),
	// and each chunk's time range, so that a point identical to one
	// already stored is found without reading every chunk (NULL for
	// chunks written before: they are read).
	`ALTER TABLE logged_models ADD COLUMN metrics TEXT NOT NULL DEFAULT '[]';
	ALTER TABLE chunks ADD COLUMN min_time INTEGER;
	ALTER TABLE chunks ADD COLUMN max_time INTEGER;`,
	// 6: sweeps (hyperparameter searches) and their trials.
	migrationSweeps,
	// 7: users, their roles and tokens, the audit log, the server's
	// secret, and owners of jobs and runs.
	migrationUsers,
	// 8: owners of sweeps ("" for the sweeps made before: only admins
	// steer those once users exist, as with jobs and runs).
	migrationSweepOwners,
}

func migrate(ctx context.Context, db *sql.DB) error {
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		return err
	}
	if v > len(migrations) {
		return fmt.Errorf("database schema version %d is newer than this trainyard (%d): upgrade trainyard", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		tx, err := db.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			tx.Rollback()
			return fmt.Errorf("migration %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", i+1)); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Times are stored as Unix microseconds; 0 is the zero time.
func toMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros reads a stored time. A time outside the years 1 to 9999
// (which no write accepts now, but an older trainyard stored) reads as the
// nearest end of that range, so that every read can still render it.
func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(min(max(us, minMicros), maxMicros)).UTC()
}

var (
	minMicros = time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC).UnixMicro() + 1
	maxMicros = time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC).UnixMicro()
)

func isUniqueViolation(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// SchemaVersion is the version of the schema this trainyard writes (the
// database's user_version once Open has brought it up to date).
func SchemaVersion() int { return len(migrations) }
