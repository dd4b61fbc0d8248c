package cli

import (
	"math"
	"strings"
	"testing"
)

func TestSizesReadLikeSizes(t *testing.T) {
	for _, tc := range []struct {
		in   float64
		want string
	}{
		{0, "0 B"}, {512, "512 B"}, {1024, "1 KiB"}, {1536, "1.5 KiB"}, {763253000, "727.9 MiB"},
		{8 << 30, "8 GiB"}, {7.6 * (1 << 30), "7.6 GiB"}, {-2048, "-2 KiB"}, {math.NaN(), "NaN"}, {1 << 62, "4 EiB"},
	} {
		if got := size(tc.in); got != tc.want {
			t.Errorf("size(%v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestNumbersAreNotScientificWhenWhole(t *testing.T) {
	for _, tc := range []struct {
		key  string
		in   float64
		want string
	}{
		{"loss", 0.123456789, "0.123457"}, {"tokens", 763253000, "763253000"}, {"system/memory_used_bytes", 763253000, "727.9 MiB"},
		{"loss", math.Inf(1), "+Inf"}, {"x", 1e20, "1e+20"}, {"x", -3, "-3"},
	} {
		if got := metricValue(tc.key, tc.in); got != tc.want {
			t.Errorf("metricValue(%q, %v) = %q, want %q", tc.key, tc.in, got, tc.want)
		}
	}
	got := stringify(map[string]any{"lr": 0.001, "steps": 1e8, "model_bytes": 2048.0, "layers": []any{1.0, 2.0}, "on": true, "x": nil})
	want := map[string]string{"lr": "0.001", "steps": "100000000", "model_bytes": "2 KiB", "layers": "[1,2]", "on": "true", "x": "null"}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("stringify[%q] = %q, want %q", k, got[k], w)
		}
	}
}

func TestCellsStayOnOneLineAndSayWhatWasCut(t *testing.T) {
	if got := cell("a\nb\tc", 80, false); got != `a\nb\tc` {
		t.Errorf("cell with control characters = %q", got)
	}
	long := strings.Repeat("é", 1000)
	got := cell(long, 80, false)
	if !strings.HasSuffix(got, "… (1000 chars)") || len([]rune(got)) > 82 {
		t.Errorf("cell(long) = %q", got)
	}
	if cell(long, 80, true) != long {
		t.Error("cell(long, full) cut the value")
	}
}

func TestSortTerms(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{"metrics.acc", "metrics.acc", ""},
		{"-metrics.acc", "metrics.acc DESC", ""},
		{"params.lr asc", "params.lr asc", ""},
		{"created", "created", ""},
		{"metrics.acc SIDEWAYS", "", "want ASC or DESC"},
		{"-", "", "give a key"},
		{"bogus.x", "", "unknown identifier"},
	} {
		got, err := sortTerm(tc.in)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("sortTerm(%q) = %q, %v; want an error with %q", tc.in, got, err, tc.err)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("sortTerm(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
}

func TestWriteTailKeepsTheLastLines(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"a\nb\nc\n", 2, "b\nc\n"},
		{"a\nb\nc", 2, "b\nc"},
		{"a\nb\n", 5, "a\nb\n"},
		{"a\nb\n", 0, ""},
		{"", 3, ""},
	} {
		var out strings.Builder
		n, err := writeTail(&out, strings.NewReader(tc.in), tc.n)
		if err != nil || out.String() != tc.want || n != int64(len(tc.in)) {
			t.Errorf("writeTail(%q, %d) = %q, %d, %v; want %q, %d", tc.in, tc.n, out.String(), n, err, tc.want, len(tc.in))
		}
	}
}
