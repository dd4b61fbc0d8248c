package cli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/client"
)

// The offline spool is what the Python SDK writes when the server cannot be
// reached: one file per run, DIR/<run id>.jsonl, a JSON object a line:
//
//	{"type": "run", "id": ID, "created": false, "run": NewRun}   always first
//	{"type": "metrics", "points": [{"key", "value", "step", "timestamp"}], "batch_id"?: ID}
//	{"type": "update", "update": RunUpdate}
//	{"type": "log", "text": "..."}
//	{"type": "artifact", "path": "in/run", "file": "/abs/copy/in/spool"}
//
// "created" is true when the run already exists on the server (the SDK
// went offline after creating it). sync records progress in
// <file>.progress (lines applied), so an interrupted sync resumes without
// sending a point twice, and renames a finished file to <file>.synced.
//
// The SDK holds an exclusive flock(2) on the file while its run lives (it
// replays the file itself when the server answers, recording progress in
// the same .progress file); sync takes that lock without waiting and skips
// a file a live process holds, so the two never work on one file at once.
type spoolLine struct {
	Type    string               `json:"type"`
	ID      string               `json:"id"`
	Created bool                 `json:"created"`
	Run     *trainyard.NewRun    `json:"run"`
	Points  json.RawMessage      `json:"points"`
	BatchID string               `json:"batch_id"`
	Update  *trainyard.RunUpdate `json:"update"`
	Text    string               `json:"text"`
	Path    string               `json:"path"`
	File    string               `json:"file"`
}

// DefaultSpoolDir is where the Python SDK spools runs: TRAINYARD_SPOOL_DIR,
// else ~/.trainyard/spool.
func DefaultSpoolDir() string {
	if d := os.Getenv("TRAINYARD_SPOOL_DIR"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(".trainyard", "spool")
	}
	return filepath.Join(home, ".trainyard", "spool")
}

func syncCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "sync [DIR|FILE...]",
		Short: "Upload runs that the Python SDK spooled while the server was unreachable",
		Long: `Upload runs that the Python SDK spooled to disk while it could not reach the
server. Without arguments it reads the SDK's default spool directory:
TRAINYARD_SPOOL_DIR, else ~/.trainyard/spool. Each run is DIR/<run>.jsonl; a
synced file is renamed to .synced, and an interrupted sync resumes where it
stopped.

A file that a live process still writes (the SDK holds a lock on it while
the run lives, and replays it by itself when the server answers) is skipped
with a note; sync it again once that process has ended.`,
		Example: "  trainyard sync\n  TRAINYARD_URL=http://gpu-box:8080 trainyard sync ~/.trainyard/spool/3f2a9c01b7de.jsonl",
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				dir := DefaultSpoolDir()
				if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
					fmt.Fprintf(e.errOut, "nothing to sync: %s does not exist (the SDK has spooled nothing here)\n", dir)
					return nil
				}
				args = []string{dir}
			}
			var files []string
			for _, a := range args {
				st, err := os.Stat(a)
				if err != nil {
					return err
				}
				if !st.IsDir() {
					files = append(files, a)
					continue
				}
				m, err := filepath.Glob(filepath.Join(a, "*.jsonl"))
				if err != nil {
					return err
				}
				sort.Strings(m)
				files = append(files, m...)
			}
			if len(files) == 0 {
				fmt.Fprintf(e.errOut, "nothing to sync: no *.jsonl files in %s\n", strings.Join(args, ", "))
				return nil
			}
			var errs []error
			for _, f := range files {
				id, n, err := syncFile(cmd, e.client, f)
				switch {
				case errors.Is(err, errSpoolBusy):
					fmt.Fprintf(e.errOut, "skipped %s: a live process is still writing it (the SDK sends it by itself when the server answers); sync it again after that process ends\n", f)
				case errors.Is(err, errSpoolGone):
					// Synced or replayed by someone else meanwhile.
				case err != nil:
					errs = append(errs, fmt.Errorf("%s: %w", f, err))
				default:
					fmt.Fprintf(e.out, "synced run %s (%d records) from %s\n", id, n, f)
				}
			}
			return errors.Join(errs...)
		},
	}
}

var (
	errSpoolBusy = errors.New("spool file is being written")
	errSpoolGone = errors.New("spool file is gone")
)

// lockSpool opens a spool file and takes the lock its writer holds while
// it lives, without waiting: errSpoolBusy when a live process holds it,
// errSpoolGone when the file was renamed or removed before the lock was
// taken. The lock goes with the file's closing.
func lockSpool(path string) (*os.File, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errSpoolGone
	}
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, errSpoolBusy
		}
		return nil, fmt.Errorf("lock: %w", err)
	}
	held, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if now, err := os.Stat(path); err != nil || !os.SameFile(held, now) {
		f.Close()
		return nil, errSpoolGone
	}
	return f, nil
}

func syncFile(cmd *cobra.Command, c *client.Client, path string) (string, int, error) {
	ctx := ctxOf(cmd)
	f, err := lockSpool(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return "", 0, err
	}
	progressPath := path + ".progress"
	done := 0
	if b, err := os.ReadFile(progressPath); err == nil {
		done, _ = strconv.Atoi(strings.TrimSpace(string(b)))
	}
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 1<<20), 256<<20)
	runID := ""
	n := 0
	for line := 1; sc.Scan(); line++ {
		raw := bytes.TrimSpace(sc.Bytes())
		if len(raw) == 0 {
			continue
		}
		var l spoolLine
		if err := json.Unmarshal(raw, &l); err != nil {
			if !sc.Scan() { // a torn last line: the SDK died mid-write
				break
			}
			return runID, n, fmt.Errorf("line %d: %v", line, err)
		}
		if l.Type == "run" {
			runID = l.ID
		}
		if runID == "" {
			return "", n, fmt.Errorf("line %d: the first record must be the run", line)
		}
		if line <= done {
			continue
		}
		if err := applySpoolLine(ctx, c, runID, &l); err != nil {
			return runID, n, fmt.Errorf("line %d (%s): %w", line, l.Type, err)
		}
		n++
		if err := os.WriteFile(progressPath, []byte(strconv.Itoa(line)), 0o644); err != nil {
			return runID, n, err
		}
	}
	if err := sc.Err(); err != nil {
		return runID, n, err
	}
	// Renamed while the lock is held: a writer that starts now opens a new file.
	if err := os.Rename(path, path+".synced"); err != nil {
		return runID, n, err
	}
	os.Remove(progressPath)
	return runID, n, nil
}

func applySpoolLine(ctx context.Context, c *client.Client, runID string, l *spoolLine) error {
	switch l.Type {
	case "run":
		if l.Created || l.Run == nil {
			return nil
		}
		n := *l.Run
		n.ID = runID
		_, err := c.CreateRun(ctx, n)
		var ce *client.Error
		if errors.As(err, &ce) && ce.Code == "conflict" {
			return nil // created by an earlier, interrupted sync
		}
		return err
	case "metrics":
		m := map[string]any{"points": l.Points}
		if l.BatchID != "" {
			m["batch_id"] = l.BatchID // sent twice (an interrupted sync), stored once
		}
		body, _ := json.Marshal(m)
		_, err := c.AppendMetrics(ctx, runID, body)
		return err
	case "update":
		if l.Update == nil {
			return nil
		}
		_, err := c.UpdateRun(ctx, runID, *l.Update)
		return err
	case "log":
		return c.AppendLog(ctx, runID, []byte(l.Text))
	case "artifact":
		f, err := os.Open(l.File)
		if errors.Is(err, os.ErrNotExist) {
			// The copy is gone (cleaned up by hand?): skip it rather than block the run.
			fmt.Fprintf(os.Stderr, "trainyard: skipping artifact %q of run %s: %s is gone\n", l.Path, runID, l.File)
			return nil
		}
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = c.PutArtifact(ctx, runID, l.Path, f)
		return err
	}
	return fmt.Errorf("unknown record type %q", l.Type)
}
