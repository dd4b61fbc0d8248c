// Package migrate moves an installation on the embedded defaults (SQLite
// and artifacts on this machine's disk, both in one data directory) into
// PostgreSQL and, optionally, an S3-compatible artifact store.
//
// The database moves table by table, as stored: every row with its IDs and
// times, and metric chunks and their summaries byte for byte (both stores
// share package chunk's encoding), so that URLs, MLflow run IDs and
// artifact URIs keep working. The tables only PostgreSQL has (the params
// and tags a search reads) are computed as its store computes them. All of
// it is written in one transaction, which commits only after the counts of
// the copy match the source's and the artifacts are copied: a migration
// that fails leaves the database as it was.
//
// The source is only read (SQLite opened query-only, the artifact
// directory walked); the caller holds the data directory's lock so that no
// server writes meanwhile.
package migrate

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/postgres"
	"github.com/trainyard/trainyard/sqlite"
	_ "modernc.org/sqlite" // the pure-Go driver, as package sqlite uses
)

// Options say what to move where.
type Options struct {
	// From is the data directory (trainyard.db, artifacts/).
	From string
	// To is the PostgreSQL URL.
	To string
	// Artifacts, when set, receives the artifacts of DIR/artifacts; nil
	// leaves them there.
	Artifacts trainyard.ArtifactStore
	// Overwrite deletes what the target database (and the target
	// artifacts of the runs copied) hold first; without it a target that
	// holds data is refused.
	Overwrite bool
	// Progress receives the progress (nil: none); TTY redraws one bar in
	// place, else plain lines.
	Progress io.Writer
	TTY      bool
}

// Count is one line of the check at the end.
type Count struct {
	What           string
	Source, Target int64
}

// OK says whether the counts match.
func (c Count) OK() bool { return c.Source == c.Target }

// Report is what a migration did.
type Report struct {
	Counts []Count
	// Skipped are source files not copied (not regular files), by path.
	Skipped []string
	// ActiveJobs are the jobs that were queued or running.
	ActiveJobs int64
	Took       time.Duration
}

// OK says whether every count matches.
func (r *Report) OK() bool {
	for _, c := range r.Counts {
		if !c.OK() {
			return false
		}
	}
	return true
}

// ErrMismatch is returned (wrapped) when the counts after the copy differ
// from the source's; the database transaction is then rolled back.
var ErrMismatch = errors.New("the copy's counts differ from the source's")

// Run moves the installation. On ErrMismatch the report says which counts
// differ.
func Run(ctx context.Context, opt Options) (*Report, error) {
	start := time.Now()
	if !strings.HasPrefix(opt.To, "postgres://") && !strings.HasPrefix(opt.To, "postgresql://") {
		return nil, trainyard.FieldError("to", "%q is not a PostgreSQL URL (postgres://user@host:5432/trainyard)", opt.To)
	}
	p := newProgress(opt.Progress, opt.TTY)
	src, err := openSource(ctx, opt.From)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	// The source is read in one transaction: one consistent snapshot.
	rtx, err := src.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return nil, fmt.Errorf("--from %s: begin reading: %w", opt.From, err)
	}
	defer rtx.Rollback()

	// Open brings the target's schema up to date (creating the database
	// when it may); the copy then runs on a connection of its own.
	openCtx, cancel := context.WithTimeout(ctx, time.Minute)
	pgs, err := postgres.Open(openCtx, opt.To, postgres.Options{MaxConns: 1})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("--to %s: %w", redact(opt.To), err)
	}
	pgs.Close()
	conn, err := pgx.Connect(ctx, opt.To)
	if err != nil {
		return nil, fmt.Errorf("--to %s: %w", redact(opt.To), err)
	}
	defer conn.Close(context.Background())
	// Every server on a database runs for its scheduling leadership: while
	// this connection holds that lock, none runs there.
	var free bool
	if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, postgres.LeaderLockKey).Scan(&free); err != nil {
		return nil, fmt.Errorf("--to %s: %w", redact(opt.To), err)
	}
	if !free {
		return nil, fmt.Errorf("--to %s: a trainyard server is running on this database: stop it first", redact(opt.To))
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("--to %s: begin: %w", redact(opt.To), err)
	}
	defer tx.Rollback(context.Background())

	if err := prepareTarget(ctx, tx, opt); err != nil {
		return nil, err
	}
	rep := &Report{}
	if err := rtx.QueryRowContext(ctx, `SELECT count(*) FROM jobs WHERE state IN ('QUEUED', 'RUNNING')`).Scan(&rep.ActiveJobs); err != nil {
		return nil, fmt.Errorf("count active jobs: %w", err)
	}
	expected := map[string]int64{}
	for _, t := range tables {
		n, err := copyTable(ctx, rtx, tx, t, p)
		if err != nil {
			return nil, err
		}
		expected[t.name] = n
		if t.serial != "" {
			_, err := tx.Exec(ctx, fmt.Sprintf(`SELECT setval(pg_get_serial_sequence('%s', '%s'), coalesce((SELECT max(%s) FROM %s), 0) + 1, false)`,
				t.name, t.serial, t.serial, t.name))
			if err != nil {
				return nil, fmt.Errorf("continue the sequence of %s.%s: %w", t.name, t.serial, err)
			}
		}
	}
	if rep.Counts, err = checkTables(ctx, rtx, tx, expected); err != nil {
		return nil, err
	}
	if opt.Artifacts != nil {
		files, err := listArtifacts(filepath.Join(opt.From, "artifacts"))
		if err != nil {
			return nil, err
		}
		rep.Skipped = files.skipped
		if err := copyArtifacts(ctx, opt, files, p); err != nil {
			return nil, err
		}
		counts, err := checkArtifacts(ctx, opt.Artifacts, files)
		if err != nil {
			return nil, err
		}
		rep.Counts = append(rep.Counts, counts...)
	}
	rep.Took = time.Since(start)
	if !rep.OK() {
		return rep, fmt.Errorf("%w: nothing was committed to %s", ErrMismatch, redact(opt.To))
	}
	if err := tx.Commit(ctx); err != nil {
		return rep, fmt.Errorf("--to %s: commit: %w", redact(opt.To), err)
	}
	return rep, nil
}

// openSource opens DIR/trainyard.db to read: it must exist and have the
// schema this trainyard writes.
func openSource(ctx context.Context, dir string) (*sql.DB, error) {
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("--from %s: %w", dir, err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("--from %s: not a directory (want trainyard's data directory, such as ~/.trainyard)", dir)
	}
	path := filepath.Join(dir, "trainyard.db")
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("--from %s: no trainyard database there (%s): %w", dir, path, err)
	}
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(ON)")
	if err != nil {
		return nil, fmt.Errorf("--from %s: open %s: %w", dir, path, err)
	}
	db.SetMaxOpenConns(1)
	var v int
	if err := db.QueryRowContext(ctx, "PRAGMA user_version").Scan(&v); err != nil {
		db.Close()
		return nil, fmt.Errorf("--from %s: read %s: %w", dir, path, err)
	}
	switch want := sqlite.SchemaVersion(); {
	case v < want:
		db.Close()
		return nil, fmt.Errorf("--from %s: the database's schema (version %d) is older than this trainyard's (%d): start `trainyard up --data %s` once with this version to upgrade it, stop it, then migrate", dir, v, want, dir)
	case v > want:
		db.Close()
		return nil, fmt.Errorf("--from %s: the database's schema (version %d) is newer than this trainyard's (%d): migrate with the trainyard that wrote it", dir, v, want)
	}
	return db, nil
}

// prepareTarget refuses a target that holds data, or with Overwrite
// deletes it. A new database holds only the default experiment, which
// the source's replaces.
func prepareTarget(ctx context.Context, tx pgx.Tx, opt Options) error {
	var held []string
	for _, t := range tables {
		q := "SELECT count(*) FROM " + t.name
		if t.name == "experiments" {
			q += ` WHERE NOT (id = 0 AND name = 'default')`
		}
		var n int64
		if err := tx.QueryRow(ctx, q).Scan(&n); err != nil {
			return fmt.Errorf("--to %s: count %s: %w", redact(opt.To), t.name, err)
		}
		if n > 0 {
			held = append(held, fmt.Sprintf("%d %s", n, t.name))
		}
	}
	if len(held) > 0 && !opt.Overwrite {
		return fmt.Errorf("--to %s already holds data (%s): migrate into an empty database, or pass --overwrite to delete what it holds first",
			redact(opt.To), strings.Join(held, ", "))
	}
	names := make([]string, len(tables))
	for i, t := range tables {
		names[i] = t.name
	}
	if _, err := tx.Exec(ctx, "TRUNCATE "+strings.Join(names, ", ")+" RESTART IDENTITY"); err != nil {
		return fmt.Errorf("--to %s: clear the target: %w", redact(opt.To), err)
	}
	return nil
}

// copyTable copies one table with COPY and returns the rows it wrote.
func copyTable(ctx context.Context, rtx *sql.Tx, tx pgx.Tx, t *table, p *progress) (int64, error) {
	from := t.name
	if t.from != "" {
		from = t.from
	}
	var total int64
	if err := rtx.QueryRowContext(ctx, "SELECT count(*) FROM "+from).Scan(&total); err != nil {
		return 0, fmt.Errorf("count %s: %w", from, err)
	}
	var names []string
	for _, c := range append(append([]column{}, t.cols...), t.srcOnly...) {
		names = append(names, c.name)
	}
	rows, err := rtx.QueryContext(ctx, "SELECT "+strings.Join(names, ", ")+" FROM "+from)
	if err != nil {
		return 0, fmt.Errorf("read %s: %w", from, err)
	}
	defer rows.Close()
	bar := p.table(t.name, total)
	s := &source{t: t, rows: rows, raw: make([]any, len(names)), bar: bar}
	n, err := tx.CopyFrom(ctx, pgx.Identifier{t.name}, t.dstCols(), s)
	if s.err != nil {
		err = s.err
	}
	if err != nil {
		return 0, fmt.Errorf("copy %s: %w", t.name, err)
	}
	bar.done()
	return n, nil
}

// source reads a table's SQLite rows and hands PostgreSQL's to COPY.
type source struct {
	t       *table
	rows    *sql.Rows
	raw     []any
	pending [][]any
	cur     []any
	err     error
	bar     *bar
}

func (s *source) Next() bool {
	for len(s.pending) == 0 {
		if s.err != nil || !s.rows.Next() {
			if s.err == nil {
				s.err = s.rows.Err()
			}
			return false
		}
		ptrs := make([]any, len(s.raw))
		for i := range s.raw {
			ptrs[i] = &s.raw[i]
		}
		if err := s.rows.Scan(ptrs...); err != nil {
			s.err = err
			return false
		}
		s.bar.add(1)
		out, err := s.row()
		if err != nil {
			s.err = err
			return false
		}
		s.pending = out
	}
	s.cur, s.pending = s.pending[0], s.pending[1:]
	return true
}

// row converts the scanned row into the rows to write.
func (s *source) row() ([][]any, error) {
	t := s.t
	cols := make([]any, len(t.cols))
	for i, c := range t.cols {
		v, err := convert(t.name, c, s.raw[i])
		if err != nil {
			return nil, err
		}
		cols[i] = v
	}
	src := make([]any, len(t.srcOnly))
	for i, c := range t.srcOnly {
		v, err := convert(t.name, c, s.raw[len(t.cols)+i])
		if err != nil {
			return nil, err
		}
		src[i] = v
	}
	if t.expand != nil {
		return t.expand(src)
	}
	var extra []any
	if t.derive != nil {
		var err error
		if extra, err = t.derive(cols, src); err != nil {
			return nil, err
		}
	}
	return [][]any{append(cols, extra...)}, nil
}

func (s *source) Values() ([]any, error) { return s.cur, nil }
func (s *source) Err() error             { return s.err }

// checkTables counts every table on both sides, and the metric points.
// A table only PostgreSQL has is checked against the rows computed for it.
func checkTables(ctx context.Context, rtx *sql.Tx, tx pgx.Tx, computed map[string]int64) ([]Count, error) {
	var out []Count
	for _, t := range tables {
		c := Count{What: t.name}
		if t.from != "" {
			c.What, c.Source = t.name+" (from runs)", computed[t.name]
		} else if err := rtx.QueryRowContext(ctx, "SELECT count(*) FROM "+t.name).Scan(&c.Source); err != nil {
			return nil, fmt.Errorf("count %s in the source: %w", t.name, err)
		}
		if err := tx.QueryRow(ctx, "SELECT count(*) FROM "+t.name).Scan(&c.Target); err != nil {
			return nil, fmt.Errorf("count %s in the target: %w", t.name, err)
		}
		out = append(out, c)
	}
	points := Count{What: "metric points"}
	if err := rtx.QueryRowContext(ctx, "SELECT coalesce(sum(count), 0) FROM chunks").Scan(&points.Source); err != nil {
		return nil, fmt.Errorf("count metric points in the source: %w", err)
	}
	if err := tx.QueryRow(ctx, "SELECT coalesce(sum(count), 0)::bigint FROM chunks").Scan(&points.Target); err != nil {
		return nil, fmt.Errorf("count metric points in the target: %w", err)
	}
	return append(out, points), nil
}

// artifactFiles are the files under DIR/artifacts, by run.
type artifactFiles struct {
	dir     string
	runs    map[string][]artifactFile
	files   int64
	bytes   int64
	skipped []string
}

type artifactFile struct {
	path string // slash-separated, under the run
	size int64
}

// listArtifacts walks DIR/artifacts (disk's layout: <run>/<path>); it
// neither follows links nor changes anything.
func listArtifacts(dir string) (*artifactFiles, error) {
	a := &artifactFiles{dir: dir, runs: map[string][]artifactFile{}}
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return a, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read the artifacts in %s: %w", dir, err)
	}
	for _, e := range ents {
		if e.Name() == ".uploads" { // unfinished uploads
			continue
		}
		if !e.IsDir() || trainyard.ValidateID("run", e.Name()) != nil {
			a.skipped = append(a.skipped, filepath.Join(dir, e.Name()))
			continue
		}
		run := e.Name()
		root := filepath.Join(dir, run)
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() {
				return nil
			}
			if !d.Type().IsRegular() {
				a.skipped = append(a.skipped, p)
				return nil
			}
			info, err := d.Info()
			if err != nil {
				return err
			}
			rel, _ := filepath.Rel(root, p)
			a.runs[run] = append(a.runs[run], artifactFile{path: filepath.ToSlash(rel), size: info.Size()})
			a.files++
			a.bytes += info.Size()
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("read the artifacts in %s: %w", root, err)
		}
	}
	return a, nil
}

func (a *artifactFiles) runIDs() []string {
	ids := make([]string, 0, len(a.runs))
	for id := range a.runs {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// copyArtifacts copies every file, refusing (without Overwrite) a run
// whose artifacts the target holds already.
func copyArtifacts(ctx context.Context, opt Options, files *artifactFiles, p *progress) error {
	if !opt.Overwrite {
		for _, id := range files.runIDs() {
			held, err := opt.Artifacts.ListArtifacts(ctx, id, "", false)
			if err != nil && !trainyard.IsCode(err, trainyard.ENOTFOUND) {
				return fmt.Errorf("--artifacts: list the artifacts of run %s: %w", id, err)
			}
			if len(held) > 0 {
				return fmt.Errorf("--artifacts already holds artifacts of run %s: migrate into an empty prefix, or pass --overwrite to replace them", id)
			}
		}
	}
	bar := p.bytes("artifacts", files.bytes)
	for _, id := range files.runIDs() {
		for _, f := range files.runs[id] {
			if err := copyFile(ctx, opt.Artifacts, files.dir, id, f, bar); err != nil {
				return err
			}
		}
	}
	bar.done()
	return nil
}

func copyFile(ctx context.Context, dst trainyard.ArtifactStore, dir, run string, f artifactFile, bar *bar) error {
	path := filepath.Join(dir, run, filepath.FromSlash(f.path))
	in, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("artifact %s: %w", path, err)
	}
	defer in.Close()
	info, err := dst.PutArtifact(ctx, run, f.path, &counting{r: in, bar: bar})
	if err != nil {
		return fmt.Errorf("copy artifact %s to run %s's %s: %w", path, run, f.path, err)
	}
	if info.Size != f.size {
		return fmt.Errorf("copy artifact %s: %d bytes stored, the file has %d (did it change?)", path, info.Size, f.size)
	}
	return nil
}

type counting struct {
	r   io.Reader
	bar *bar
}

func (c *counting) Read(b []byte) (int, error) {
	n, err := c.r.Read(b)
	c.bar.add(int64(n))
	return n, err
}

// checkArtifacts counts, for the runs copied, the files and bytes the
// target lists against the source's.
func checkArtifacts(ctx context.Context, dst trainyard.ArtifactStore, files *artifactFiles) ([]Count, error) {
	nf := Count{What: "artifact files", Source: files.files}
	nb := Count{What: "artifact bytes", Source: files.bytes}
	for _, id := range files.runIDs() {
		want := map[string]int64{}
		for _, f := range files.runs[id] {
			want[f.path] = f.size
		}
		got, err := dst.ListArtifacts(ctx, id, "", true)
		if err != nil {
			return nil, fmt.Errorf("--artifacts: list the artifacts of run %s: %w", id, err)
		}
		for _, g := range got {
			if g.Dir {
				continue
			}
			if size, ok := want[g.Path]; ok && size == g.Size {
				nf.Target++
				nb.Target += g.Size
			}
		}
	}
	return []Count{nf, nb}, nil
}

// redact hides a password in a URL.
func redact(url string) string {
	at := strings.LastIndexByte(url, '@')
	scheme := strings.Index(url, "://")
	if at < 0 || scheme < 0 || at < scheme {
		return url
	}
	if user, _, ok := strings.Cut(url[scheme+3:at], ":"); ok {
		return url[:scheme+3] + user + ":***" + url[at:]
	}
	return url
}

// Redact hides a password in a URL for messages.
func Redact(url string) string { return redact(url) }
