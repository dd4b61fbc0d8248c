package disk

import (
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
	if err := trainyard.ValidateID("run", runID); err != nil {
		return nil, 0, err
	}
	f, err := os.Open(l.Path(runID))
	if os.IsNotExist(err) {
		return nil, 0, trainyard.Errorf(trainyard.ENOTFOUND, "run %s has no output yet", runID)
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
