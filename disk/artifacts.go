// Package disk keeps run artifacts and logs as files under the data
// directory:
//
//	DIR/artifacts/<run>/<path>   artifact files, as uploaded
//	DIR/logs/<run>.log           a run's output: its job's stdout and stderr
//
// Every path from a user is opened through an os.Root, so neither "..",
// an absolute path nor a symbolic link can reach outside a run's directory.
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

	"github.com/trainyard/trainyard"
)

// Artifacts is a trainyard.ArtifactStore on the local disk.
type Artifacts struct {
	dir string
}

var _ trainyard.ArtifactStore = (*Artifacts)(nil)

// NewArtifacts keeps artifacts under dir, creating it.
func NewArtifacts(dir string) (*Artifacts, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("create artifact directory: %w", err)
	}
	return &Artifacts{dir: dir}, nil
}

// CleanPath checks a user-supplied artifact path and returns it in clean,
// slash-separated form; "" and "." mean the root.
func CleanPath(p string) (string, error) {
	if strings.ContainsRune(p, 0) || strings.Contains(p, "\\") {
		return "", trainyard.FieldError("path", "%q may not contain NUL or backslash", p)
	}
	if strings.HasPrefix(p, "/") {
		return "", trainyard.FieldError("path", "%q must be relative to the run's artifact root", p)
	}
	c := path.Clean("/" + p)[1:]
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return "", trainyard.FieldError("path", "%q leaves the run's artifact root", p)
		}
	}
	if len(c) > 1024 {
		return "", trainyard.FieldError("path", "is %d characters, more than 1024", len(c))
	}
	return c, nil
}

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

// PutArtifact writes r to a temporary file, syncs it and renames it into
// place, so a reader never sees half a file and an acknowledged upload
// survives a crash.
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
	if d := path.Dir(clean); d != "." {
		if err := root.MkdirAll(d, 0o755); err != nil {
			return trainyard.ArtifactInfo{}, pathError(p, err)
		}
	}
	tmp := clean + ".trainyard-upload"
	f, err := root.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return trainyard.ArtifactInfo{}, pathError(p, err)
	}
	n, err := io.Copy(f, contextReader{ctx, r})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		root.Remove(tmp)
		return trainyard.ArtifactInfo{}, fmt.Errorf("write artifact %q of run %s: %w", p, runID, err)
	}
	if err := root.Rename(tmp, clean); err != nil {
		root.Remove(tmp)
		return trainyard.ArtifactInfo{}, pathError(p, err)
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
			if strings.HasSuffix(e.Name(), ".trainyard-upload") {
				continue
			}
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
		if d.IsDir() || strings.HasSuffix(p, ".trainyard-upload") {
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
	case errors.Is(err, fs.ErrExist), strings.Contains(err.Error(), "not a directory"), strings.Contains(err.Error(), "is a directory"):
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
