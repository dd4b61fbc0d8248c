// Package disk keeps run artifacts and logs as files under the data
// directory:
//
//	DIR/artifacts/<run>/<path>   artifact files, as uploaded
//	DIR/artifacts/.uploads/      uploads in progress, each in its own file
//	DIR/logs/<run>.log           a run's output: its job's stdout and stderr
//
// Every path from a user is opened through an os.Root, so neither "..",
// an absolute path nor a symbolic link can reach outside a run's directory.
//
// An upload is written to a temporary file of its own outside the run's
// tree (a run ID is letters, digits, '-' and '_', so ".uploads" is never
// a run), synced, and renamed over its target with renameat(2) between
// directory descriptors: concurrent uploads to one path never mix (the
// last to finish wins, whole), readers see the old file or the new one,
// and no name in a run's tree is taken by trainyard. What a killed upload
// left in .uploads is removed when the store is opened.
package disk

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/trainyard/trainyard"
	"golang.org/x/sys/unix"
)

// Artifacts is a trainyard.ArtifactStore on the local disk.
type Artifacts struct {
	dir     string
	uploads string // uploads in progress
}

var _ trainyard.ArtifactStore = (*Artifacts)(nil)

// uploadsDir holds uploads in progress; no run can have this ID.
const uploadsDir = ".uploads"

// oldUploadSuffix named the temporaries of uploads, next to their
// targets, before there was an uploads directory.
const oldUploadSuffix = ".trainyard-upload"

// NewArtifacts keeps artifacts under dir, creating it, and removes what
// uploads killed before they finished left behind.
func NewArtifacts(dir string) (*Artifacts, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create artifact directory: %w", err)
	}
	a := &Artifacts{dir: dir, uploads: filepath.Join(dir, uploadsDir)}
	_, err := os.Stat(a.uploads)
	firstStart := errors.Is(err, fs.ErrNotExist)
	if err := os.RemoveAll(a.uploads); err != nil {
		return nil, fmt.Errorf("remove unfinished uploads: %w", err)
	}
	if err := os.Mkdir(a.uploads, 0o755); err != nil {
		return nil, fmt.Errorf("create upload directory: %w", err)
	}
	if firstStart {
		removeOldTemporaries(dir)
	}
	return a, nil
}

// removeOldTemporaries removes, once, the temporaries that uploads killed
// under earlier versions left next to their targets (which those
// versions hid from listings).
func removeOldTemporaries(dir string) {
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() && strings.HasSuffix(p, oldUploadSuffix) {
			os.Remove(p)
		}
		return nil
	})
}

// CleanPath checks a user-supplied artifact path and returns it in clean,
// slash-separated form; "" and "." mean the root (trainyard.CleanArtifactPath).
func CleanPath(p string) (string, error) { return trainyard.CleanArtifactPath(p) }

func (a *Artifacts) root(runID string, create bool) (*os.Root, error) {
	if err := trainyard.ValidateID("run", runID); err != nil {
		return nil, err
	}
	dir := filepath.Join(a.dir, runID)
	if create {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create artifact directory of run %s: %w", runID, err)
		}
	}
	r, err := os.OpenRoot(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "run %s has no artifacts", runID)
	}
	if err != nil {
		return nil, fmt.Errorf("open artifact directory of run %s: %w", runID, err)
	}
	return r, nil
}

// PutArtifact writes r to a temporary file of its own, syncs it and
// renames it over the target (then syncs the target's directory), so a
// reader never sees half a file, concurrent uploads to one path never mix
// (the last to finish wins), and an acknowledged upload survives a crash.
func (a *Artifacts) PutArtifact(ctx context.Context, runID, p string, r io.Reader) (trainyard.ArtifactInfo, error) {
	clean, err := CleanPath(p)
	if err != nil {
		return trainyard.ArtifactInfo{}, err
	}
	if clean == "" {
		return trainyard.ArtifactInfo{}, trainyard.FieldError("path", "is empty: name the file to write")
	}
	root, err := a.root(runID, true)
	if err != nil {
		return trainyard.ArtifactInfo{}, err
	}
	defer root.Close()
	dir := path.Dir(clean)
	if dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return trainyard.ArtifactInfo{}, pathError(p, err)
		}
	}
	tmp, err := os.CreateTemp(a.uploads, runID+"-*")
	if err != nil {
		return trainyard.ArtifactInfo{}, fmt.Errorf("write artifact %q of run %s: %w", p, runID, err)
	}
	tmpName := filepath.Base(tmp.Name())
	committed := false
	defer func() {
		if !committed {
			os.Remove(tmp.Name())
		}
	}()
	n, err := io.Copy(tmp, contextReader{ctx, r})
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return trainyard.ArtifactInfo{}, fmt.Errorf("write artifact %q of run %s: %w", p, runID, err)
	}
	// The target's directory, opened through the root: renameat needs no
	// path that could leave it.
	parent, err := root.Open(dir)
	if err != nil {
		return trainyard.ArtifactInfo{}, pathError(p, err)
	}
	defer parent.Close()
	uploads, err := os.Open(a.uploads)
	if err != nil {
		return trainyard.ArtifactInfo{}, fmt.Errorf("open upload directory: %w", err)
	}
	defer uploads.Close()
	if err := unix.Renameat(int(uploads.Fd()), tmpName, int(parent.Fd()), path.Base(clean)); err != nil {
		return trainyard.ArtifactInfo{}, pathError(p, err)
	}
	committed = true
	if err := parent.Sync(); err != nil {
		return trainyard.ArtifactInfo{}, fmt.Errorf("sync directory of artifact %q of run %s: %w", p, runID, err)
	}
	st, err := root.Stat(clean)
	if err != nil {
		return trainyard.ArtifactInfo{}, pathError(p, err)
	}
	return trainyard.ArtifactInfo{Path: clean, Size: n, ModTime: st.ModTime().UTC()}, nil
}

// OpenArtifact opens one file.
func (a *Artifacts) OpenArtifact(ctx context.Context, runID, p string) (io.ReadSeekCloser, trainyard.ArtifactInfo, error) {
	clean, err := CleanPath(p)
	if err != nil {
		return nil, trainyard.ArtifactInfo{}, err
	}
	if clean == "" {
		return nil, trainyard.ArtifactInfo{}, trainyard.FieldError("path", "%q is the run's root, a directory: list it instead", p)
	}
	root, err := a.root(runID, false)
	if err != nil {
		if trainyard.IsCode(err, trainyard.ENOTFOUND) {
			return nil, trainyard.ArtifactInfo{}, trainyard.Errorf(trainyard.ENOTFOUND, "run %s has no artifact %q", runID, p)
		}
		return nil, trainyard.ArtifactInfo{}, err
	}
	defer root.Close()
	f, err := root.Open(clean)
	if err != nil {
		return nil, trainyard.ArtifactInfo{}, pathError(p, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, trainyard.ArtifactInfo{}, pathError(p, err)
	}
	if st.IsDir() {
		f.Close()
		return nil, trainyard.ArtifactInfo{}, trainyard.FieldError("path", "%q is a directory: list it instead", p)
	}
	return f, trainyard.ArtifactInfo{Path: clean, Size: st.Size(), ModTime: st.ModTime().UTC()}, nil
}

// ListArtifacts lists dir's entries, or with recursive every file below it.
func (a *Artifacts) ListArtifacts(ctx context.Context, runID, dir string, recursive bool) ([]trainyard.ArtifactInfo, error) {
	clean, err := CleanPath(dir)
	if err != nil {
		return nil, err
	}
	root, err := a.root(runID, false)
	if trainyard.IsCode(err, trainyard.ENOTFOUND) && clean == "" {
		return []trainyard.ArtifactInfo{}, nil // a run without artifacts lists empty
	}
	if err != nil {
		return nil, err
	}
	defer root.Close()
	start := clean
	if start == "" {
		start = "."
	}
	fsys := root.FS()
	out := []trainyard.ArtifactInfo{}
	if !recursive {
		entries, err := fs.ReadDir(fsys, start)
		if err != nil {
			return nil, pathError(dir, err)
		}
		for _, e := range entries {
			info, err := e.Info()
			if err != nil {
				continue
			}
			ai := trainyard.ArtifactInfo{Path: path.Join(clean, e.Name()), Dir: e.IsDir(), ModTime: info.ModTime().UTC()}
			if !e.IsDir() {
				ai.Size = info.Size()
			}
			out = append(out, ai)
		}
		return out, nil
	}
	err = fs.WalkDir(fsys, start, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		out = append(out, trainyard.ArtifactInfo{Path: p, Size: info.Size(), ModTime: info.ModTime().UTC()})
		return nil
	})
	if err != nil {
		return nil, pathError(dir, err)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// DeleteArtifact removes a file or a directory tree.
func (a *Artifacts) DeleteArtifact(ctx context.Context, runID, p string) error {
	clean, err := CleanPath(p)
	if err != nil {
		return err
	}
	root, err := a.root(runID, false)
	if err != nil {
		return err
	}
	defer root.Close()
	if clean == "" {
		clean = "."
	}
	if _, err := root.Stat(clean); err != nil {
		return pathError(p, err)
	}
	if clean == "." {
		entries, err := fs.ReadDir(root.FS(), ".")
		if err != nil {
			return pathError(p, err)
		}
		for _, e := range entries {
			if err := root.RemoveAll(e.Name()); err != nil {
				return pathError(p, err)
			}
		}
		return nil
	}
	if err := root.RemoveAll(clean); err != nil {
		return pathError(p, err)
	}
	return nil
}

func pathError(p string, err error) error {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return trainyard.Errorf(trainyard.ENOTFOUND, "artifact %q not found", p)
	case strings.Contains(err.Error(), "path escapes from parent"):
		return trainyard.FieldError("path", "%q leaves the run's artifact root", p)
	case errors.Is(err, fs.ErrExist), errors.Is(err, syscall.EISDIR), errors.Is(err, syscall.ENOTDIR), errors.Is(err, syscall.ENOTEMPTY),
		strings.Contains(err.Error(), "not a directory"), strings.Contains(err.Error(), "is a directory"):
		return trainyard.Errorf(trainyard.ECONFLICT, "artifact path %q conflicts with an existing file or directory", p)
	}
	return fmt.Errorf("artifact %q: %w", p, err)
}

// contextReader stops a copy when ctx ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
