package trainyard_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path"
	"strings"
	"syscall"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
)

func TestParseBytes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want trainyard.Bytes
		bad  bool
	}{
		{"4GiB", 4 << 30, false},
		{"4G", 4 << 30, false},
		{"4GB", 4e9, false},
		{"512MiB", 512 << 20, false},
		{"1.5TiB", 3 << 39, false},
		{"1024", 1024, false},
		{" 2 gib ", 2 << 30, false},
		{"", 0, true},
		{"-1G", 0, true},
		{"4XB", 0, true},
		{"GiB", 0, true},
		{"NaNG", 0, true},
	} {
		got, err := trainyard.ParseBytes(tc.in)
		if (err != nil) != tc.bad || got != tc.want {
			t.Errorf("ParseBytes(%q) = %v, %v; want %v, bad=%v", tc.in, got, err, tc.want, tc.bad)
		}
	}
	for _, tc := range []struct {
		b    trainyard.Bytes
		want string
	}{{0, "0B"}, {1023, "1023B"}, {4 << 30, "4GiB"}, {1536 << 20, "1.5GiB"}} {
		if got := tc.b.String(); got != tc.want {
			t.Errorf("%d.String() = %q, want %q", tc.b, got, tc.want)
		}
	}
}

func TestResourcesJSON(t *testing.T) {
	var r trainyard.Resources
	if err := json.Unmarshal([]byte(`{"gpus":1,"cpus":2,"memory":"1GiB"}`), &r); err != nil || r.Memory != 1<<30 {
		t.Fatalf("%+v %v", r, err)
	}
	if err := json.Unmarshal([]byte(`{"memory":-5}`), &r); err == nil {
		t.Error("negative memory accepted")
	}
	b, _ := json.Marshal(trainyard.Resources{Memory: 1 << 30})
	if string(b) != `{"gpus":0,"cpus":0,"memory":1073741824}` {
		t.Errorf("marshal = %s", b)
	}
}

func TestJobSpecValidateNamesEveryField(t *testing.T) {
	s := trainyard.JobSpec{
		Project: "bad project", Resources: trainyard.Resources{GPUs: -1, CPUs: -2, Memory: -3},
		Priority: 5000, MaxRestarts: -1, Env: map[string]string{"1BAD": "x"}, Tags: map[string]string{"": "x"},
		Name: strings.Repeat("n", 300),
	}
	msg := trainyard.ErrorMessage(s.Validate())
	for _, field := range []string{"command", "name", "project", "resources.gpus", "resources.cpus", "resources.memory", "priority", "max_restarts", "env", "tags"} {
		if !strings.Contains(msg, field+":") {
			t.Errorf("Validate message lacks %q: %s", field, msg)
		}
	}
	if code := trainyard.ErrorCode(s.Validate()); code != trainyard.EINVALID {
		t.Errorf("code %q", code)
	}
	ok := trainyard.NewJobSpec()
	ok.Command = []string{"python", "train.py"}
	ok.Normalize()
	if err := ok.Validate(); err != nil || ok.Project != "default" || ok.Resources.CPUs != 1 || ok.Name != "python train.py" {
		t.Errorf("normalized spec %+v: %v", ok, err)
	}
}

func TestFlattenConfig(t *testing.T) {
	got := trainyard.FlattenConfig(map[string]any{
		"lr": 0.1, "model": map[string]any{"layers": 3.0, "act": map[string]any{"name": "relu"}}, "empty": map[string]any{}, "list": []any{1.0, 2.0},
	})
	want := map[string]any{"lr": 0.1, "model.layers": 3.0, "model.act.name": "relu", "empty": map[string]any{}, "list": []any{1.0, 2.0}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Error(diff)
	}
}

func TestFloatJSONKeepsNonFinite(t *testing.T) {
	for _, v := range []float64{0.5, math.NaN(), math.Inf(1), math.Inf(-1), -0.0, 1e300} {
		b, err := json.Marshal(trainyard.Float(v))
		if err != nil {
			t.Fatal(err)
		}
		var back trainyard.Float
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if math.Float64bits(float64(back)) != math.Float64bits(v) && !(math.IsNaN(v) && math.IsNaN(float64(back))) {
			t.Errorf("%v → %s → %v", v, b, back)
		}
	}
	var f trainyard.Float
	if err := json.Unmarshal([]byte(`"lots"`), &f); err == nil {
		t.Error(`"lots" accepted as a float`)
	}
}

func TestMetricSummaryObserveAndMerge(t *testing.T) {
	var a, b, all trainyard.MetricSummary
	steps, vals, times := []int64{0, 5, 3, 5, 9}, []float64{math.NaN(), 2, -1, 7, 4}, []int64{1, 2, 3, 4, 5}
	a.Observe(steps[:2], vals[:2], times[:2])
	b.Observe(steps[2:], vals[2:], times[2:])
	all.Observe(steps, vals, times)
	a.Merge(b)
	eq := cmp.Comparer(func(x, y trainyard.Float) bool { return x == y || x != x && y != y })
	if diff := cmp.Diff(all, a, eq); diff != "" {
		t.Errorf("merge differs from observing all (-all +merged):\n%s", diff)
	}
	if all.Count != 5 || all.LastStep != 9 || all.Last != 4 || all.Min != -1 || all.Max != 7 {
		t.Errorf("summary %+v", all)
	}
}

func TestErrorCodesAndMessages(t *testing.T) {
	err := trainyard.Errorf(trainyard.ENOTFOUND, "run %s not found", "x")
	if trainyard.ErrorCode(err) != trainyard.ENOTFOUND || trainyard.ErrorMessage(err) != "run x not found" {
		t.Error(err)
	}
	plain := json.Unmarshal([]byte("{"), &struct{}{})
	if trainyard.ErrorCode(plain) != trainyard.EINTERNAL || trainyard.ErrorMessage(plain) != "internal error" {
		t.Error("internal errors must not show their cause")
	}
	if trainyard.ErrorCode(nil) != "" {
		t.Error("nil has a code")
	}
}

// One key grammar for metric, config, summary and tag keys: MLflow's
// (letters, digits, _ - . : space /, at most 250 bytes, and read as a path,
// no other name than itself), so that every accepted key reads back
// through a URL path and moves to MLflow unchanged.
func TestValidateKey(t *testing.T) {
	for _, k := range []string{
		"loss", "train/loss", "val loss", "a.b", "a..b", "a/..b", "a/b.", ".a", "a/.b", "-x", "x-", "_", " ",
		"top-1 acc", "eval:acc", "損失/訓練", "β2", "x²", strings.Repeat("k", 250), "system/gpu.0.util",
	} {
		if err := trainyard.ValidateKey("metrics", k); err != nil {
			t.Errorf("ValidateKey(%q) = %v; want nil", k, err)
		}
	}
	for _, tc := range []struct{ key, want string }{
		{"", "empty key"},
		{"a//b", `"a//b" has an empty segment`},
		{"/x", `"/x" starts with '/'`},
		{"x/", `"x/" ends with '/'`},
		{".", `"." has a "." segment`},
		{"..", `".." starts with ".."`},
		{"a/./b", `"a/./b" has a "." segment`},
		{"a/../b", `"a/../b" has a ".." segment`},
		{"../x", `starts with ".."`},
		{"..x", `starts with ".."`},
		{"a/.", `"." segment`},
		{"acc@1", `contains '@'`},
		{"a%2Fb", `contains '%'`},
		{"a?b", `contains '?'`},
		{"a#b", `contains '#'`},
		{"a\\b", `contains '\\'`},
		{"a\tb", `contains '\t'`},
		{"loss[0]", `contains '['`},
		{"\xff", "not valid UTF-8"},
		{strings.Repeat("k", 251), "251 bytes, more than 250"},
	} {
		err := trainyard.ValidateKey("metrics", tc.key)
		if trainyard.ErrorCode(err) != trainyard.EINVALID || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "metrics: ") {
			t.Errorf("ValidateKey(%q) = %v; want invalid, naming the field, with %q", tc.key, err, tc.want)
		}
	}
}

func FuzzValidateKey(f *testing.F) {
	for _, s := range []string{"loss", "a//b", "../x", "a/./b", "損失", "x/", " "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, k string) {
		if trainyard.ValidateKey("k", k) != nil {
			return
		}
		// An accepted key is its own clean path: a URL path router
		// (path.Clean) maps it to nothing else.
		if c := path.Clean("/" + k); c != "/"+k {
			t.Fatalf("accepted %q, which cleans to %q", k, c)
		}
		if strings.ContainsAny(k, "%?#\\\x00") || !utf8.ValidString(k) || len(k) > trainyard.MaxKeyLen {
			t.Fatalf("accepted %q", k)
		}
	})
}

type codedError int

func (c codedError) Error() string { return "database or disk is full" }
func (c codedError) Code() int     { return int(c) }

// A full disk is one error code, whatever says so: the OS (ENOSPC) or
// SQLite (SQLITE_FULL, code 13, as its drivers report it).
func TestDiskFullIsOneCode(t *testing.T) {
	for _, err := range []error{
		fmt.Errorf("write artifact: %w", &os.PathError{Op: "write", Path: "x", Err: syscall.ENOSPC}),
		fmt.Errorf("commit metrics: %w", codedError(13)),
		errors.Join(errors.New("other"), fmt.Errorf("append log: %w", syscall.ENOSPC)),
	} {
		if trainyard.ErrorCode(err) != trainyard.ENOSPACE || !strings.Contains(trainyard.ErrorMessage(err), "disk is full") {
			t.Errorf("%v: code %s, message %q", err, trainyard.ErrorCode(err), trainyard.ErrorMessage(err))
		}
	}
	for _, err := range []error{errors.New("x"), codedError(5), fmt.Errorf("w: %w", syscall.EIO)} {
		if trainyard.ErrorCode(err) != trainyard.EINTERNAL {
			t.Errorf("%v: code %s; want internal", err, trainyard.ErrorCode(err))
		}
	}
}

func FuzzParseBytes(f *testing.F) {
	for _, s := range []string{"4GiB", "1.5TiB", "512MiB", "1024", " 2 gib ", "4GB", "-1G", "NaNG", "1e30G"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		b, err := trainyard.ParseBytes(s)
		if err != nil {
			return
		}
		if b < 0 {
			t.Fatalf("ParseBytes(%q) = %d, negative", s, b)
		}
		// What String writes reads back as the same size (String rounds
		// to one decimal, so compare through it).
		again, err := trainyard.ParseBytes(b.String())
		if err != nil || again.String() != b.String() {
			t.Fatalf("ParseBytes(%q) = %d, whose String %q reads as %d, %v", s, b, b.String(), again, err)
		}
	})
}

// A metric value in JSON (a number, or "NaN", "Infinity", "-Infinity")
// reads back as the value written.
func FuzzFloatJSON(f *testing.F) {
	for _, s := range []string{`0.5`, `"NaN"`, `"-Infinity"`, `1e308`, `-0`, `"1.5"`, `2.0000000015e+09`, `"nan"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var v trainyard.Float
		if err := json.Unmarshal(b, &v); err != nil {
			return
		}
		out, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("%s read as %v, which does not marshal: %v", b, v, err)
		}
		var again trainyard.Float
		if err := json.Unmarshal(out, &again); err != nil || math.Float64bits(float64(again)) != math.Float64bits(float64(v)) && !(math.IsNaN(float64(v)) && math.IsNaN(float64(again))) {
			t.Fatalf("%s → %v → %s → %v, %v", b, v, out, again, err)
		}
	})
}

// A job spec as the API decodes it (strictly, sizes with units) either is
// refused or validates and survives a JSON round trip.
func FuzzJobSpecJSON(f *testing.F) {
	f.Add([]byte(`{"command":["python","train.py"],"resources":{"gpus":1,"cpus":2,"memory":"16GiB"},"env":{"A":"b"},"tags":{"team":"x"}}`))
	f.Add([]byte(`{"command":["sh","-c","exit 3"],"priority":5,"max_restarts":2,"project":"p","name":"n"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		var spec trainyard.JobSpec
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if dec.Decode(&spec) != nil || spec.Validate() != nil {
			return
		}
		out, err := json.Marshal(spec)
		if err != nil {
			t.Fatalf("valid spec does not marshal: %v", err)
		}
		var again trainyard.JobSpec
		if err := json.Unmarshal(out, &again); err != nil {
			t.Fatalf("%s does not read back: %v", out, err)
		}
		if err := again.Validate(); err != nil {
			t.Fatalf("%s read back invalid: %v", out, err)
		}
	})
}
