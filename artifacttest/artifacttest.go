// Package artifacttest is the conformance suite for trainyard.ArtifactStore
// implementations (package disk, package s3, and the HTTP API in e2e):
//
//	func TestConformance(t *testing.T) {
//		artifacttest.Run(t, func(t *testing.T) (trainyard.ArtifactStore, string) { ... })
//	}
//
// Each test takes a store and the ID of a run it may write to, fresh for
// the test. The contract it checks:
//   - put, open, list (a directory's entries, or every file below it,
//     sorted by path) and delete (a file or a whole tree) read back exactly
//     what was written, under names with spaces, unicode, '+', '%' and
//     names that look like a store's temporaries;
//   - a path that tries to leave the run's root (.., absolute, NUL,
//     backslash) or a bad run ID is EINVALID; a missing file or directory
//     is ENOTFOUND; a file where a directory is, or under a file, ECONFLICT;
//   - a put is atomic: concurrent writers to one path leave one of them
//     whole (the last wins), readers see one version whole, and a put that
//     fails (its reader errs, its context ends) leaves what was there;
//   - a file of hundreds of MiB is streamed in and out (and copied from one
//     run to another, as `trainyard migrate` copies between stores) with
//     memory bounded well below its size;
//   - Seek and ranged reads return the bytes at every offset.
package artifacttest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
)

// Open returns a store and a run ID to write under, fresh for each call: a
// test that calls it twice gets two runs without artifacts, in one store
// or two (BigFilesStreamWithBoundedMemory copies between them, as
// `trainyard migrate` copies between stores).
type Open func(t *testing.T) (trainyard.ArtifactStore, string)

// Run runs every test of the suite.
func Run(t *testing.T, open Open) {
	for _, tc := range []struct {
		name string
		f    func(*testing.T, Open)
	}{
		{"PutOpenReplace", PutOpenReplace},
		{"ListDirectoriesAndTrees", ListDirectoriesAndTrees},
		{"DeleteFilesAndTrees", DeleteFilesAndTrees},
		{"PathsThatEscapeAreInvalid", PathsThatEscapeAreInvalid},
		{"MissingIsNotFound", MissingIsNotFound},
		{"FilesAndDirectoriesConflict", FilesAndDirectoriesConflict},
		{"NamesReadBackExactly", NamesReadBackExactly},
		{"EveryNameIsListed", EveryNameIsListed},
		{"SeekAndRangeReads", SeekAndRangeReads},
		{"FailedPutLeavesWhatWasThere", FailedPutLeavesWhatWasThere},
		{"ConcurrentPutsAreWhole", ConcurrentPutsAreWhole},
		{"ConcurrentLargePutsAreWhole", ConcurrentLargePutsAreWhole},
		{"BigFilesStreamWithBoundedMemory", BigFilesStreamWithBoundedMemory},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.f(t, open) })
	}
}

var ctx = context.Background()

// put stores body at p or fails the test.
func put(t *testing.T, s trainyard.ArtifactStore, run, p, body string) trainyard.ArtifactInfo {
	t.Helper()
	info, err := s.PutArtifact(ctx, run, p, strings.NewReader(body))
	if err != nil {
		t.Fatalf("put %q: %v", p, err)
	}
	return info
}

// read returns the content of p or fails the test.
func read(t *testing.T, s trainyard.ArtifactStore, run, p string) (string, trainyard.ArtifactInfo) {
	t.Helper()
	f, info, err := s.OpenArtifact(ctx, run, p)
	if err != nil {
		t.Fatalf("open %q: %v", p, err)
	}
	defer f.Close()
	b, err := io.ReadAll(f)
	if err != nil {
		t.Fatalf("read %q: %v", p, err)
	}
	return string(b), info
}

// names lists dir as paths, directories with a trailing slash.
func names(t *testing.T, s trainyard.ArtifactStore, run, dir string, recursive bool) []string {
	t.Helper()
	list, err := s.ListArtifacts(ctx, run, dir, recursive)
	if err != nil {
		t.Fatalf("list %q (recursive %v): %v", dir, recursive, err)
	}
	out := []string{}
	for _, a := range list {
		n := a.Path
		if a.Dir {
			n += "/"
		}
		out = append(out, n)
	}
	return out
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if got := trainyard.ErrorCode(err); got != code {
		t.Errorf("%s: %v (code %q); want code %q", what, err, got, code)
	}
}

// PutOpenReplace stores files, reads them back with their sizes, and
// replaces one: only the new content remains. An empty file is a file.
func PutOpenReplace(t *testing.T, open Open) {
	s, run := open(t)
	files := map[string]string{"model/weights.bin": "WEIGHTS", "model/config.json": "{}", "metrics.csv": "a,b\n1,2\n", "empty": ""}
	for p, body := range files {
		info := put(t, s, run, p, body)
		if info.Size != int64(len(body)) || info.Path != p || info.Dir {
			t.Errorf("put %q answered %+v; want path %q size %d", p, info, p, len(body))
		}
	}
	for p, body := range files {
		got, info := read(t, s, run, p)
		if got != body || info.Size != int64(len(body)) || info.Path != p {
			t.Errorf("%q reads %q with %+v; want %q", p, got, info, body)
		}
	}
	if info := put(t, s, run, "metrics.csv", "new"); info.Size != 3 {
		t.Errorf("replace answered %+v", info)
	}
	if got, info := read(t, s, run, "metrics.csv"); got != "new" || info.Size != 3 {
		t.Errorf("replaced file reads %q size %d; want \"new\"", got, info.Size)
	}
	// A path given unclean names the same file, and is answered clean.
	if info := put(t, s, run, "./model//config.json", "{\"v\":2}"); info.Path != "model/config.json" {
		t.Errorf("put ./model//config.json answered path %q", info.Path)
	}
	if got, _ := read(t, s, run, "model/config.json"); got != `{"v":2}` {
		t.Errorf("model/config.json reads %q after a put through an unclean path", got)
	}
}

// ListDirectoriesAndTrees lists a directory's entries (files and
// directories, sorted by path, paths from the run's root) and every file
// of a tree.
func ListDirectoriesAndTrees(t *testing.T, open Open) {
	s, run := open(t)
	if got := names(t, s, run, "", false); len(got) != 0 {
		t.Errorf("a run without artifacts lists %v", got)
	}
	for _, p := range []string{"a/b/c.txt", "a/d.txt", "a/b/e/f.txt", "e.txt", "a.txt", "ab/x"} {
		put(t, s, run, p, p)
	}
	for _, tc := range []struct {
		dir       string
		recursive bool
		want      []string
	}{
		{"", false, []string{"a/", "a.txt", "ab/", "e.txt"}},
		{"a", false, []string{"a/b/", "a/d.txt"}},
		{"a/b", false, []string{"a/b/c.txt", "a/b/e/"}},
		{"a/", false, []string{"a/b/", "a/d.txt"}},
		{"", true, []string{"a.txt", "a/b/c.txt", "a/b/e/f.txt", "a/d.txt", "ab/x", "e.txt"}},
		{"a", true, []string{"a/b/c.txt", "a/b/e/f.txt", "a/d.txt"}},
		{"a/b/e", true, []string{"a/b/e/f.txt"}},
	} {
		got := names(t, s, run, tc.dir, tc.recursive)
		if !slices.Equal(got, tc.want) {
			t.Errorf("list %q recursive=%v: %v; want %v", tc.dir, tc.recursive, got, tc.want)
		}
	}
	list, err := s.ListArtifacts(ctx, run, "a", false)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.Path == "a/d.txt" && a.Size != int64(len("a/d.txt")) {
			t.Errorf("a/d.txt is listed with size %d", a.Size)
		}
		if a.Path == "a/d.txt" && a.ModTime.IsZero() {
			t.Errorf("a/d.txt is listed without a modification time")
		}
	}
}

// DeleteFilesAndTrees deletes one file, then a directory with everything
// below it, and leaves the rest.
func DeleteFilesAndTrees(t *testing.T, open Open) {
	s, run := open(t)
	for _, p := range []string{"ckpt/step1/model.pt", "ckpt/step1/opt.pt", "ckpt/step2/model.pt", "ckpt2/model.pt", "log.txt"} {
		put(t, s, run, p, p)
	}
	if err := s.DeleteArtifact(ctx, run, "log.txt"); err != nil {
		t.Fatalf("delete a file: %v", err)
	}
	if err := s.DeleteArtifact(ctx, run, "ckpt"); err != nil {
		t.Fatalf("delete a tree: %v", err)
	}
	if got := names(t, s, run, "", true); !slices.Equal(got, []string{"ckpt2/model.pt"}) {
		t.Errorf("after deleting log.txt and ckpt: %v; want only ckpt2/model.pt", got)
	}
	for _, p := range []string{"log.txt", "ckpt/step1/model.pt", "ckpt/step2/model.pt"} {
		_, _, err := s.OpenArtifact(ctx, run, p)
		wantCode(t, "open deleted "+p, err, trainyard.ENOTFOUND)
	}
	if got, _ := read(t, s, run, "ckpt2/model.pt"); got != "ckpt2/model.pt" {
		t.Errorf("ckpt2/model.pt (beside the deleted ckpt) reads %q", got)
	}
	// What was deleted can be written again, file or directory.
	put(t, s, run, "ckpt", "now a file")
	if got, _ := read(t, s, run, "ckpt"); got != "now a file" {
		t.Errorf("ckpt reads %q", got)
	}
}

// PathsThatEscapeAreInvalid: no path and no run ID reaches outside the
// run's root, whichever method is asked.
func PathsThatEscapeAreInvalid(t *testing.T, open Open) {
	s, run := open(t)
	put(t, s, run, "inside.txt", "x")
	for _, p := range []string{"../x", "..", "a/../../x", "a/b/../../../x", "/etc/passwd", "/x", "a\\..\\x", "a\x00b"} {
		_, err := s.PutArtifact(ctx, run, p, strings.NewReader("escaped"))
		wantCode(t, fmt.Sprintf("put %q", p), err, trainyard.EINVALID)
		_, _, err = s.OpenArtifact(ctx, run, p)
		wantCode(t, fmt.Sprintf("open %q", p), err, trainyard.EINVALID)
		_, err = s.ListArtifacts(ctx, run, p, false)
		wantCode(t, fmt.Sprintf("list %q", p), err, trainyard.EINVALID)
		err = s.DeleteArtifact(ctx, run, p)
		wantCode(t, fmt.Sprintf("delete %q", p), err, trainyard.EINVALID)
	}
	for _, bad := range []string{"../" + run, run + "/..", "a/b", ""} {
		_, err := s.PutArtifact(ctx, bad, "x", strings.NewReader("x"))
		wantCode(t, fmt.Sprintf("put to run %q", bad), err, trainyard.EINVALID)
		_, _, err = s.OpenArtifact(ctx, bad, "inside.txt")
		wantCode(t, fmt.Sprintf("open in run %q", bad), err, trainyard.EINVALID)
	}
	if got := names(t, s, run, "", true); !slices.Equal(got, []string{"inside.txt"}) {
		t.Errorf("after refused writes the run holds %v", got)
	}
}

// MissingIsNotFound: a file, a directory or a run that holds nothing.
func MissingIsNotFound(t *testing.T, open Open) {
	s, run := open(t)
	put(t, s, run, "dir/file", "x")
	for _, p := range []string{"nothing", "dir/nothing", "nodir/nothing", "dir/fil"} {
		_, _, err := s.OpenArtifact(ctx, run, p)
		wantCode(t, "open "+p, err, trainyard.ENOTFOUND)
		wantCode(t, "delete "+p, s.DeleteArtifact(ctx, run, p), trainyard.ENOTFOUND)
	}
	_, err := s.ListArtifacts(ctx, run, "nodir", false)
	wantCode(t, "list a missing directory", err, trainyard.ENOTFOUND)
	s2, run2 := open(t)
	_, _, err = s2.OpenArtifact(ctx, run2, "dir/file")
	wantCode(t, "open in a run without artifacts", err, trainyard.ENOTFOUND)
	if got := names(t, s2, run2, "", false); len(got) != 0 {
		t.Errorf("a run without artifacts lists %v", got)
	}
}

// FilesAndDirectoriesConflict: a file cannot be written where a directory
// is, nor below a file; a directory cannot be opened as a file.
func FilesAndDirectoriesConflict(t *testing.T, open Open) {
	s, run := open(t)
	put(t, s, run, "d/f", "x")
	_, err := s.PutArtifact(ctx, run, "d", strings.NewReader("y"))
	wantCode(t, "put a file over a directory", err, trainyard.ECONFLICT)
	_, err = s.PutArtifact(ctx, run, "d/f/g", strings.NewReader("y"))
	wantCode(t, "put a file below a file", err, trainyard.ECONFLICT)
	_, err = s.PutArtifact(ctx, run, "d/f/g/h", strings.NewReader("y"))
	wantCode(t, "put a file two levels below a file", err, trainyard.ECONFLICT)
	_, _, err = s.OpenArtifact(ctx, run, "d")
	wantCode(t, "open a directory", err, trainyard.EINVALID)
	_, _, err = s.OpenArtifact(ctx, run, "")
	wantCode(t, "open the root", err, trainyard.EINVALID)
	_, err = s.PutArtifact(ctx, run, "", strings.NewReader("y"))
	wantCode(t, "put to the root", err, trainyard.EINVALID)
	if got := names(t, s, run, "", true); !slices.Equal(got, []string{"d/f"}) {
		t.Errorf("after refused writes the run holds %v", got)
	}
	if got, _ := read(t, s, run, "d/f"); got != "x" {
		t.Errorf("d/f reads %q", got)
	}
}

// NamesReadBackExactly: names that URLs, XML and object keys encode are
// stored and listed as given.
func NamesReadBackExactly(t *testing.T, open Open) {
	s, run := open(t)
	ps := []string{"with space/a b.txt", "ünïcödé/模型.bin", "plus+sign", "per%20cent", "q?uery", "amp&er=sand", "star*", "x#frag", "tab\there", "new\nline", "quote\"s", "<tag>&amp;"}
	for _, p := range ps {
		put(t, s, run, p, "content of "+p)
	}
	for _, p := range ps {
		if got, _ := read(t, s, run, p); got != "content of "+p {
			t.Errorf("%q reads %q", p, got)
		}
	}
	got := names(t, s, run, "", true)
	want := slices.Clone(ps)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("recursive listing %q; want %q", got, want)
	}
	if got := names(t, s, run, "with space", false); !slices.Equal(got, []string{"with space/a b.txt"}) {
		t.Errorf("list \"with space\": %q", got)
	}
}

// EveryNameIsListed stores files whose names look like what a store might
// use for itself (temporaries, hidden files, upload markers) and expects to
// list each.
func EveryNameIsListed(t *testing.T, open Open) {
	s, run := open(t)
	files := []string{
		"model.bin.trainyard-upload", "x.tmp", ".hidden", "dir/.trainyard-upload", "dir/a.part", "~lock", "upload", ".uploads",
	}
	for _, n := range files {
		if _, err := s.PutArtifact(ctx, run, n, bytes.NewReader([]byte(n))); err != nil {
			t.Fatalf("put %q: %v", n, err)
		}
	}
	list, err := s.ListArtifacts(ctx, run, "", true)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, a := range list {
		got[a.Path] = a.Size
	}
	for _, n := range files {
		if got[n] != int64(len(n)) {
			t.Errorf("%q is not listed (or has the wrong size) in %+v", n, list)
		}
		if b, _ := read(t, s, run, n); b != n {
			t.Errorf("%q reads %q", n, b)
		}
	}
	top, err := s.ListArtifacts(ctx, run, "", false)
	if err != nil {
		t.Fatal(err)
	}
	if len(top) != 7 { // six files and dir
		t.Errorf("top level lists %+v; want 6 files and dir", top)
	}
}

// failingReader gives n bytes, then an error.
type failingReader struct {
	n   int
	err error
}

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n == 0 {
		return 0, f.err
	}
	k := min(len(p), f.n)
	for i := range p[:k] {
		p[i] = 'x'
	}
	f.n -= k
	return k, nil
}

// FailedPutLeavesWhatWasThere: a put whose reader fails, small or past
// several parts of an object store's multipart upload, or whose context
// ends, stores nothing: the old file stays whole, and no new file appears.
func FailedPutLeavesWhatWasThere(t *testing.T, open Open) {
	s, run := open(t)
	put(t, s, run, "model.bin", "old")
	boom := errors.New("the client went away")
	for _, n := range []int{0, 100, 20 << 20} {
		_, err := s.PutArtifact(ctx, run, "model.bin", &failingReader{n: n, err: boom})
		if err == nil {
			t.Errorf("a put whose reader failed after %d bytes succeeded", n)
		}
		_, err = s.PutArtifact(ctx, run, "new.bin", &failingReader{n: n, err: boom})
		if err == nil {
			t.Errorf("a put of a new file whose reader failed after %d bytes succeeded", n)
		}
	}
	cctx, cancel := context.WithCancel(ctx)
	r := &cancelingReader{r: &failingReader{n: 30 << 20, err: io.EOF}, after: 12 << 20, cancel: cancel}
	if _, err := s.PutArtifact(cctx, run, "model.bin", r); err == nil {
		t.Errorf("a put whose context was canceled after 12 MiB succeeded")
	}
	if got, info := read(t, s, run, "model.bin"); got != "old" || info.Size != 3 {
		t.Errorf("after failed puts model.bin reads %q (size %d); want the old content", got, info.Size)
	}
	if got := names(t, s, run, "", true); !slices.Equal(got, []string{"model.bin"}) {
		t.Errorf("after failed puts the run holds %v; want only model.bin", got)
	}
}

// cancelingReader cancels its context once after bytes were read.
type cancelingReader struct {
	r      io.Reader
	n      int
	after  int
	cancel context.CancelFunc
}

func (c *cancelingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	if c.n >= c.after && c.cancel != nil {
		c.cancel()
		c.cancel = nil
	}
	return n, err
}
