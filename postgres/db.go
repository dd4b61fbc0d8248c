package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/metricengine"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// Options tune a Store. The zero value is the default.
type Options struct {
	// MaxConns bounds the connection pool; default max(8, 4 × CPUs).
	MaxConns int32
	// Clock defaults to time.Now.
	Clock  trainyard.Clock
	Logger *slog.Logger
	// PeerURL is where this server's API is reached by the other servers
	// on the database: recorded while it leads (LeaderURL), so that they
	// forward sweep changes to it.
	PeerURL string
}

// Store is a trainyard.Store on a PostgreSQL database.
type Store struct {
	pool  *pgxpool.Pool
	url   string
	clock trainyard.Clock
	log   *slog.Logger
	me    *metricengine.Engine
	peer  string // Options.PeerURL
}

var _ trainyard.Store = (*Store)(nil)

// Open connects to the database at url (postgres://user@host:port/db),
// creating it when it does not exist and the user may, and brings its
// schema up to date (several servers starting at once migrate one at a
// time, under an advisory lock).
func Open(ctx context.Context, url string, opt Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, trainyard.FieldError("db", "%v", err)
	}
	cfg.MaxConns = opt.MaxConns
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = int32(max(8, 4*runtime.NumCPU()))
	}
	if err := ensureDatabase(ctx, cfg.ConnConfig); err != nil {
		return nil, err
	}
	if err := migrate(ctx, cfg.ConnConfig, opt.Logger); err != nil {
		return nil, fmt.Errorf("migrate %s: %w", redact(url), err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", redact(url), err)
	}
	s := &Store{pool: pool, url: url, clock: opt.Clock, log: opt.Logger, peer: opt.PeerURL}
	if s.clock == nil {
		s.clock = time.Now
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	s.me = metricengine.New(&metricBackend{s: s}, metricengine.Options{Logger: s.log})
	return s, nil
}

// Close stops the metric writer and closes the connections.
func (s *Store) Close() error {
	s.me.Close()
	s.pool.Close()
	return nil
}

// redact hides a password in a connection URL for messages.
func redact(url string) string {
	at := strings.LastIndexByte(url, '@')
	scheme := strings.Index(url, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return url
	}
	creds := url[scheme+3 : at]
	if user, _, ok := strings.Cut(creds, ":"); ok {
		return url[:scheme+3] + user + ":***" + url[at:]
	}
	return url
}

// ensureDatabase creates the database of cfg when it does not exist.
func ensureDatabase(ctx context.Context, cfg *pgx.ConnConfig) error {
	c, err := pgx.ConnectConfig(ctx, cfg)
	if err == nil {
		return c.Close(ctx)
	}
	var pe *pgconn.PgError
	if !errors.As(err, &pe) || pe.Code != "3D000" { // invalid_catalog_name
		return fmt.Errorf("connect to PostgreSQL at %s:%d: %w", cfg.Host, cfg.Port, err)
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	c, err = pgx.ConnectConfig(ctx, admin)
	if err != nil {
		return fmt.Errorf("database %q does not exist, and connecting to \"postgres\" to create it failed: %w", cfg.Database, err)
	}
	defer c.Close(ctx)
	_, err = c.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{cfg.Database}.Sanitize())
	if errors.As(err, &pe) && pe.Code == "42P04" { // duplicate_database: another server made it
		return nil
	}
	if err != nil {
		return fmt.Errorf("create database %q: %w", cfg.Database, err)
	}
	return nil
}

func migrate(ctx context.Context, cfg *pgx.ConnConfig, logger *slog.Logger) error {
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	locker, err := lock.NewPostgresSessionLocker()
	if err != nil {
		return err
	}
	files, err := fs.Sub(migrationFiles, "migrations")
	if err != nil {
		return err
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, files,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true), goose.WithTableName("trainyard_schema"))
	if err != nil {
		return err
	}
	current, err := p.GetDBVersion(ctx)
	if err != nil {
		return err
	}
	if sources := p.ListSources(); len(sources) > 0 && current > sources[len(sources)-1].Version {
		return fmt.Errorf("database schema version %d is newer than this trainyard (%d): upgrade trainyard", current, sources[len(sources)-1].Version)
	}
	results, err := p.Up(ctx)
	for _, r := range results {
		if logger != nil && r.Error == nil {
			logger.Info("migrated the database", "version", r.Source.Version, "file", r.Source.Path, "took", r.Duration.Round(time.Millisecond))
		}
	}
	return err
}

// Times are stored as Unix microseconds; 0 is the zero time.
func toMicros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// fromMicros reads a stored time. A time outside the years 1 to 9999
// (which no write accepts, but a database migrated from an older SQLite
// may hold) reads as the nearest end of that range, so that every read can
// still render it.
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

func (s *Store) now() time.Time { return s.clock().UTC().Truncate(time.Microsecond) }

func pgCode(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

func isUniqueViolation(err error) bool { return pgCode(err) == "23505" }

// wrap adds context to a database error and marks the ones that are the
// caller's: text PostgreSQL cannot hold (a NUL character, invalid UTF-8)
// is EINVALID; a full disk reads as ENOSPC (errors.Is), the cause
// trainyard maps to its full-disk error.
func wrap(err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	var te *trainyard.Error
	if errors.As(err, &te) {
		return err
	}
	switch pgCode(err) {
	case "22021", "22P05": // character_not_in_repertoire, untranslatable_character
		return trainyard.Errorf(trainyard.EINVALID, "%s: text holds a NUL character or invalid UTF-8, which PostgreSQL cannot store", fmt.Sprintf(format, args...))
	case "53100": // disk_full
		return fmt.Errorf(format+": %w", append(args, diskFull{err})...)
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}

// diskFull is PostgreSQL's disk_full error; errors.Is(err, syscall.ENOSPC)
// holds for it.
type diskFull struct{ err error }

func (e diskFull) Error() string        { return e.err.Error() }
func (e diskFull) Unwrap() error        { return e.err }
func (e diskFull) Is(target error) bool { return target == syscall.ENOSPC }

// inTx runs fn in a transaction and commits it.
func (s *Store) inTx(ctx context.Context, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return wrap(err, "begin")
	}
	defer tx.Rollback(ctx)
	if err := fn(tx); err != nil {
		return err
	}
	return wrap(tx.Commit(ctx), "commit")
}

func limitOrDefault(n int) int {
	if n <= 0 {
		return trainyard.DefaultListLimit
	}
	return n
}
