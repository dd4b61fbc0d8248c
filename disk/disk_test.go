package disk

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/artifacttest"
)

var ctx = context.Background()

func TestCleanPath(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		bad      bool
	}{
		{"model.pt", "model.pt", false},
		{"a/b/../c", "", true},
		{"./a//b/", "a/b", false},
		{"", "", false},
		{"/etc/passwd", "", true},
		{"..", "", true},
		{"a/../../x", "", true},
		{"a\\b", "", true},
		{"a\x00b", "", true},
	} {
		got, err := CleanPath(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
		if err != nil && trainyard.ErrorCode(err) != trainyard.EINVALID {
			t.Errorf("CleanPath(%q) error code %q, want invalid", tc.in, trainyard.ErrorCode(err))
		}
	}
}

func TestArtifactsPutListOpenDelete(t *testing.T) {
	a, err := NewArtifacts(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	for p, body := range map[string]string{"model/weights.bin": "WEIGHTS", "model/config.json": "{}", "metrics.csv": "a,b\n1,2\n"} {
		info, err := a.PutArtifact(ctx, "run1", p, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if info.Size != int64(len(body)) || info.Path != p {
			t.Fatalf("put %s: %+v", p, info)
		}
	}
	// Replacing a file keeps only the new content.
	if _, err := a.PutArtifact(ctx, "run1", "metrics.csv", strings.NewReader("new")); err != nil {
		t.Fatal(err)
	}
	f, info, err := a.OpenArtifact(ctx, "run1", "metrics.csv")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(f)
	f.Close()
	if string(b) != "new" || info.Size != 3 {
		t.Fatalf("read %q size %d", b, info.Size)
	}
	names := func(infos []trainyard.ArtifactInfo, err error) []string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, i := range infos {
			n := i.Path
			if i.Dir {
				n += "/"
			}
			out = append(out, n)
		}
		return out
	}
	if diff := cmp.Diff([]string{"metrics.csv", "model/"}, names(a.ListArtifacts(ctx, "run1", "", false))); diff != "" {
		t.Errorf("root (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"model/config.json", "model/weights.bin"}, names(a.ListArtifacts(ctx, "run1", "model", false))); diff != "" {
		t.Errorf("dir (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"metrics.csv", "model/config.json", "model/weights.bin"}, names(a.ListArtifacts(ctx, "run1", "", true))); diff != "" {
		t.Errorf("recursive (-want +got):\n%s", diff)
	}
	if got := names(a.ListArtifacts(ctx, "other", "", false)); len(got) != 0 {
		t.Errorf("run without artifacts lists %v", got)
	}
	if err := a.DeleteArtifact(ctx, "run1", "model"); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"metrics.csv"}, names(a.ListArtifacts(ctx, "run1", "", true))); diff != "" {
		t.Errorf("after delete (-want +got):\n%s", diff)
	}
	_, _, err = a.OpenArtifact(ctx, "run1", "model/weights.bin")
	if trainyard.ErrorCode(err) != trainyard.ENOTFOUND {
		t.Errorf("open deleted: %v", err)
	}
}

func TestArtifactsCannotEscape(t *testing.T) {
	dir := t.TempDir()
	a, _ := NewArtifacts(filepath.Join(dir, "artifacts"))
	secret := filepath.Join(dir, "secret")
	os.WriteFile(secret, []byte("s"), 0o600)
	if _, err := a.PutArtifact(ctx, "run1", "x", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	// A symbolic link planted inside the run's directory must not be followed out.
	if err := os.Symlink(dir, filepath.Join(dir, "artifacts", "run1", "link")); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"../secret", "/etc/passwd", "link/secret", "a/../../secret"} {
		if _, _, err := a.OpenArtifact(ctx, "run1", p); err == nil {
			t.Errorf("OpenArtifact(%q) escaped the root", p)
		}
		if _, err := a.PutArtifact(ctx, "run1", p, strings.NewReader("x")); err == nil {
			t.Errorf("PutArtifact(%q) escaped the root", p)
		}
	}
	if _, err := a.PutArtifact(ctx, "../run", "x", strings.NewReader("x")); trainyard.ErrorCode(err) != trainyard.EINVALID {
		t.Errorf("bad run id: %v", err)
	}
	if b, _ := os.ReadFile(secret); string(b) != "s" {
		t.Fatalf("secret changed to %q", b)
	}
}

func TestLogsAppendAndOpen(t *testing.T) {
	l, _ := NewLogs(t.TempDir())
	if _, _, err := l.Open("run1", 0); trainyard.ErrorCode(err) != trainyard.ENOTFOUND {
		t.Fatalf("log of a run without output: %v, want not found", err)
	}
	l.Append("run1", []byte("hello\n"))
	l.Append("run1", []byte("world\n"))
	r, size, err := l.Open("run1", 6)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r)
	r.Close()
	if string(b) != "world\n" || size != 12 {
		t.Fatalf("got %q size %d", b, size)
	}
}

func TestArtifactsConformance(t *testing.T) {
	artifacttest.Run(t, func(t *testing.T) (trainyard.ArtifactStore, string) {
		a, err := NewArtifacts(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return a, "run1"
	})
}

// An upload killed before it finished (kill -9 of the server) leaves its
// temporary file; the next start removes it, and nothing of it was ever
// listed.
func TestUnfinishedUploadsAreRemovedAtStart(t *testing.T) {
	dir := t.TempDir()
	a, err := NewArtifacts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutArtifact(ctx, "run1", "model.bin", strings.NewReader("whole")); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, uploadsDir, "run1-123456")
	if err := os.WriteFile(left, []byte("half"), 0o644); err != nil {
		t.Fatal(err)
	}
	list, _ := a.ListArtifacts(ctx, "run1", "", true)
	if len(list) != 1 || list[0].Path != "model.bin" {
		t.Fatalf("listing %+v", list)
	}
	if _, err := NewArtifacts(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(left); !os.IsNotExist(err) {
		t.Fatalf("the unfinished upload is still there: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "run1", "model.bin")); err != nil {
		t.Fatal(err)
	}
}

// Earlier versions left their temporaries next to the target, as
// NAME.trainyard-upload, and hid that suffix from listings. The first
// start with an uploads directory removes them; after that the suffix is a
// name like any other.
func TestOldTemporariesAreRemovedOnce(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "run1", "sub", "model.bin"+oldUploadSuffix)
	os.MkdirAll(filepath.Dir(old), 0o755)
	os.WriteFile(old, []byte("half"), 0o644)
	a, err := NewArtifacts(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !os.IsNotExist(err) {
		t.Fatalf("old temporary kept: %v", err)
	}
	if _, err := a.PutArtifact(ctx, "run1", "x"+oldUploadSuffix, strings.NewReader("mine")); err != nil {
		t.Fatal(err)
	}
	if _, err := NewArtifacts(dir); err != nil {
		t.Fatal(err)
	}
	list, _ := a.ListArtifacts(ctx, "run1", "", true)
	if len(list) != 1 || list[0].Path != "x"+oldUploadSuffix {
		t.Fatalf("listing %+v; want the user's file", list)
	}
}

// Writing over a directory is a conflict, and leaves no temporary.
func TestPutOverADirectoryConflicts(t *testing.T) {
	dir := t.TempDir()
	a, _ := NewArtifacts(dir)
	if _, err := a.PutArtifact(ctx, "run1", "d/f", strings.NewReader("x")); err != nil {
		t.Fatal(err)
	}
	_, err := a.PutArtifact(ctx, "run1", "d", strings.NewReader("y"))
	if trainyard.ErrorCode(err) != trainyard.ECONFLICT {
		t.Fatalf("put over a directory: %v; want conflict", err)
	}
	if entries, _ := os.ReadDir(filepath.Join(dir, uploadsDir)); len(entries) != 0 {
		t.Fatalf("temporaries left: %v", entries)
	}
}

// An accepted artifact path is clean, relative and inside the run's root,
// and cleaning it again changes nothing.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"model.pt", "a/b/../c", "./a//b/", "", "/etc/passwd", "..", "a/../../x", "a\\b", "..a/b", "a/.../b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c, err := CleanPath(p)
		if err != nil {
			if trainyard.ErrorCode(err) != trainyard.EINVALID {
				t.Fatalf("CleanPath(%q): %v is not invalid", p, err)
			}
			return
		}
		if strings.HasPrefix(c, "/") || c == ".." || strings.HasPrefix(c, "../") || strings.Contains(c, "/../") || strings.HasSuffix(c, "/..") || strings.ContainsAny(c, "\\\x00") {
			t.Fatalf("CleanPath(%q) = %q leaves the root", p, c)
		}
		if again, err := CleanPath(c); err != nil || again != c {
			t.Fatalf("CleanPath(%q) = %q, and again %q, %v", p, c, again, err)
		}
	})
}
