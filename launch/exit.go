package launch

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// ExitRecord is how one node's ranks ended, as `trainyard __launch
// --exit-dir DIR` writes it to DIR/node-N.json: for engines that learn a
// node's end only as one number that later events can overwrite (srun
// reports the highest exit code of its tasks, so a rank failing with 9 is
// hidden by the 143 of the nodes it stopped). The first node to fail is the
// one with the earliest At.
type ExitRecord struct {
	Node   int       `json:"node"`
	Code   int       `json:"code"`             // as Status.Code
	Signal string    `json:"signal,omitempty"` // as Status.Signal
	Rank   int       `json:"rank"`             // the failing rank; -1 when none failed
	Reason string    `json:"reason,omitempty"` // as Status.Reason, or why the ranks did not start
	At     time.Time `json:"at"`               // when the node's ranks had all ended
}

// ExitPath is where node's record goes in dir.
func ExitPath(dir string, node int) string {
	return filepath.Join(dir, "node-"+strconv.Itoa(node)+".json")
}

// WriteExit writes r to ExitPath(dir, r.Node) atomically (a temporary
// file, fsync, rename), creating dir.
func WriteExit(dir string, r ExitRecord) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	path := ExitPath(dir, r.Node)
	tmp := fmt.Sprintf("%s.tmp-%d", path, os.Getpid())
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

// ReadExit reads node's record from dir.
func ReadExit(dir string, node int) (ExitRecord, error) {
	var r ExitRecord
	b, err := os.ReadFile(ExitPath(dir, node))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return r, fmt.Errorf("exit record %s: %w", ExitPath(dir, node), err)
	}
	return r, nil
}
