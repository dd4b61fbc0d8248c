package trainyard_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

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
	ok := trainyard.JobSpec{Command: []string{"python", "train.py"}}
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
