package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/trainyard/trainyard/cli"
	"github.com/trainyard/trainyard/migrate"
	"github.com/trainyard/trainyard/s3"
	"golang.org/x/term"
)

func migrateCmd() *cobra.Command {
	var from, to, artifacts string
	var overwrite bool
	cmd := &cobra.Command{
		Use:   "migrate --from DIR --to postgres://... [--artifacts s3://BUCKET/PREFIX]",
		Short: "Move an installation on SQLite (and local artifacts) to PostgreSQL (and S3)",
		Long: `Move everything a trainyard on its embedded defaults holds — projects,
runs, metrics, jobs, the model registry, sweeps, users, tokens and the
audit log — from the SQLite database in --from (default ~/.trainyard) into
the PostgreSQL database --to, keeping every ID and time, so that URLs,
MLflow run IDs and artifact URIs keep working. With --artifacts
s3://BUCKET/PREFIX (endpoint and credentials from the AWS_* variables) the
artifacts in DIR/artifacts are copied there too; without it they stay
where they are. Job logs (DIR/logs) and sweep checkpoints stay in DIR:
start the new server with --data DIR.

The source is only read, and the server on it must be stopped
(trainyard down --data DIR). A target database (or artifact prefix) that
already holds data is refused unless --overwrite, which deletes what the
database holds first. Everything is written in one transaction that
commits after the counts of rows, metric points and artifact files and
bytes are checked against the source's; the check is printed as a table,
and the exit status is 1 when it fails.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if to == "" {
				return &cli.UsageError{Msg: "--to is required: the PostgreSQL URL to move to (postgres://user@host:5432/trainyard)"}
			}
			if !isPostgres(to) {
				return &cli.UsageError{Msg: fmt.Sprintf("--to %q: want a PostgreSQL URL (postgres://user@host:5432/trainyard)", to)}
			}
			if artifacts != "" && !strings.HasPrefix(artifacts, "s3://") {
				return &cli.UsageError{Msg: fmt.Sprintf("--artifacts %q: want s3://BUCKET/PREFIX (leave it out to keep the artifacts in %s)",
					artifacts, filepath.Join(from, "artifacts"))}
			}
			dir, err := filepath.Abs(from)
			if err != nil {
				return err
			}
			if st, err := os.Stat(dir); err != nil {
				return fmt.Errorf("--from %s: %w", from, err)
			} else if !st.IsDir() {
				return fmt.Errorf("--from %s: not a directory (want trainyard's data directory, such as ~/.trainyard)", from)
			}
			if _, err := os.Stat(filepath.Join(dir, "trainyard.db")); err != nil {
				return fmt.Errorf("--from %s: no trainyard database there (%s): %w", from, filepath.Join(dir, "trainyard.db"), err)
			}
			// The server's own lock: no server runs on the source while
			// this holds it, and `trainyard down` stops this one.
			unlock, err := lockSource(dir)
			if err != nil {
				return err
			}
			defer unlock()
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			stderr := cmd.ErrOrStderr()
			opt := migrate.Options{From: dir, To: to, Overwrite: overwrite, Progress: stderr, TTY: isTerminal(stderr)}
			if artifacts != "" {
				cfg, err := s3.FromEnv(artifacts, os.Getenv)
				if err != nil {
					return fmt.Errorf("--artifacts %s: %w", artifacts, err)
				}
				a, err := s3.Open(ctx, cfg)
				if err != nil {
					return fmt.Errorf("--artifacts %s: %w", artifacts, err)
				}
				opt.Artifacts = a
			}
			fmt.Fprintf(stderr, "moving %s to %s\n", filepath.Join(dir, "trainyard.db"), migrate.Redact(to))
			rep, err := migrate.Run(ctx, opt)
			out := cmd.OutOrStdout()
			if rep != nil {
				fmt.Fprintln(out)
				rep.WriteTable(out)
			}
			if err != nil {
				if errors.Is(err, migrate.ErrMismatch) {
					fmt.Fprintf(stderr, "trainyard: %v\n", err)
					return &cli.ExitError{Code: 1}
				}
				return err
			}
			for _, p := range rep.Skipped {
				fmt.Fprintf(stderr, "skipped %s: not a run's artifact directory or a regular file\n", p)
			}
			fmt.Fprintf(out, "\nmoved in %s. Start the server on it with:\n  trainyard up --data %s --db %s", rep.Took.Round(1e6), dir, migrate.Redact(to))
			if artifacts != "" {
				fmt.Fprintf(out, " --artifacts %s\n", artifacts)
				fmt.Fprintf(out, "Job logs stay in %s and sweep checkpoints in %s: keep --data %s.\n",
					filepath.Join(dir, "logs"), filepath.Join(dir, "checkpoints"), dir)
			} else {
				fmt.Fprintf(out, "\nArtifacts stay in %s, job logs in %s and sweep checkpoints in %s: keep --data %s.\n",
					filepath.Join(dir, "artifacts"), filepath.Join(dir, "logs"), filepath.Join(dir, "checkpoints"), dir)
			}
			if rep.ActiveJobs > 0 {
				fmt.Fprintf(out, "%d jobs were queued or running: they carry over as they were, and the new server on --data %s takes them up.\n", rep.ActiveJobs, dir)
			}
			fmt.Fprintf(out, "%s is unchanged: keep %s as a backup at least until the new server serves what you expect.\n", dir, filepath.Join(dir, "trainyard.db"))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&from, "from", env("TRAINYARD_HOME", defaultConfig().Data), "the data directory to move (TRAINYARD_HOME)")
	fl.StringVar(&to, "to", "", "the PostgreSQL database to move it to: postgres://user[:password]@host:5432/trainyard")
	fl.StringVar(&artifacts, "artifacts", "", "copy the artifacts to s3://BUCKET/PREFIX (AWS_* variables for the endpoint and credentials); default: they stay in DIR/artifacts")
	fl.BoolVar(&overwrite, "overwrite", false, "delete what the target database holds (and replace the target's artifacts of the runs moved) instead of refusing it")
	return cmd
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// lockSource takes the data directory's lock as a server on SQLite does
// (with this process's pid, which `trainyard down` signals). A directory
// this process may not write is locked through the lock file that is there,
// if any: a server that ran on it made one.
func lockSource(dir string) (func(), error) {
	p := filepath.Join(dir, lockName)
	f, err := os.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	writable := err == nil
	if err != nil {
		f, err = os.Open(p)
	}
	if errors.Is(err, fs.ErrNotExist) {
		return func() {}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--from %s: open its lock: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("--from %s: a trainyard server is running on it: stop it first (trainyard down --data %s)", dir, dir)
		}
		return nil, fmt.Errorf("--from %s: lock %s: %w", dir, p, err)
	}
	if writable && f.Truncate(0) == nil {
		f.WriteAt([]byte(fmt.Sprintf("%d\n", os.Getpid())), 0)
	}
	return func() { f.Close() }, nil
}
