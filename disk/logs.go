package disk

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/trainyard/trainyard"
)

// Logs keeps one append-only log file per run.
type Logs struct {
	dir string
}

// NewLogs keeps logs under dir, creating it.
func NewLogs(dir string) (*Logs, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create log directory: %w", err)
	}
	return &Logs{dir: dir}, nil
}

// Path is where the run's log lives; the executor appends job output there.
func (l *Logs) Path(runID string) string { return filepath.Join(l.dir, runID+".log") }

// Append adds text to a run's log and syncs it.
func (l *Logs) Append(runID string, data []byte) error {
	if err := trainyard.ValidateID("run", runID); err != nil {
		return err
	}
	f, err := os.OpenFile(l.Path(runID), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open log of %s: %w", runID, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("append to log of %s: %w", runID, err)
	}
	return nil
}

// Open returns the run's log positioned at offset, and its current size.
// Returns ENOTFOUND when the run has no output yet.
func (l *Logs) Open(runID string, offset int64) (io.ReadCloser, int64, error) {
	return l.OpenRank(runID, -1, offset)
}

// OpenRank is Open for one rank's own output (trainyard.RankLogPath), or
// for the whole run's log when rank is negative.
func (l *Logs) OpenRank(runID string, rank int, offset int64) (io.ReadCloser, int64, error) {
	if err := trainyard.ValidateID("run", runID); err != nil {
		return nil, 0, err
	}
	path, what := l.Path(runID), "run "+runID
	if rank >= 0 {
		path, what = trainyard.RankLogPath(path, rank), fmt.Sprintf("rank %d of run %s", rank, runID)
	}
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, 0, trainyard.Errorf(trainyard.ENOTFOUND, "%s has no output yet", what)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open log of %s: %w", runID, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, 0, err
		}
	}
	return f, st.Size(), nil
}

// ReadLog is OpenRank for the HTTP API (package http's LogStore).
func (l *Logs) ReadLog(_ context.Context, runID string, rank int, offset int64) (io.ReadCloser, int64, error) {
	return l.OpenRank(runID, rank, offset)
}

// AppendLog is Append for the HTTP API (package http's LogStore).
func (l *Logs) AppendLog(_ context.Context, runID string, data []byte) error {
	return l.Append(runID, data)
}
