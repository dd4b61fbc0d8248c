package migrate

import (
	"bytes"
	"strings"
	"testing"
)

func TestProgress(t *testing.T) {
	for _, tc := range []struct {
		name       string
		tty        bool
		unit       string
		add, total int64
		want       []string
		wantNot    []string
	}{
		{"plain rows", false, "rows", 3, 3, []string{"runs", "100%", "3/3 rows"}, []string{"\r"}},
		{"terminal rows", true, "rows", 3, 3, []string{"\rruns", "100%", "3/3 rows"}, nil},
		{"plain bytes", false, "bytes", 3 << 20, 3 << 20, []string{"artifacts", "100%", "3.0Mi/3.0Mi bytes"}, []string{"\r"}},
		{"empty", false, "rows", 0, 0, []string{"runs", "100%", "0/0 rows"}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			p := newProgress(&buf, tc.tty)
			b := p.table("runs", tc.total)
			if tc.unit == "bytes" {
				b = p.bytes("artifacts", tc.total)
			}
			b.add(tc.add)
			b.done()
			out := buf.String()
			if !strings.HasSuffix(out, "\n") || (!tc.tty && strings.Count(out, "\n") != 1) {
				t.Errorf("%q: want one line a table when not a terminal, each ended", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(out, w) {
					t.Errorf("%q does not show %q", out, w)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(out, w) {
					t.Errorf("%q shows %q", out, w)
				}
			}
		})
	}
}

func TestReportTable(t *testing.T) {
	r := &Report{Counts: []Count{{"runs", 7, 7}, {"metric points", 10, 9}}}
	if r.OK() {
		t.Fatal("a report with a mismatch is OK")
	}
	var buf bytes.Buffer
	r.WriteTable(&buf)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.HasSuffix(lines[1], "ok") || !strings.HasSuffix(lines[2], "MISMATCH") || !strings.Contains(lines[2], "10") {
		t.Errorf("table:\n%s", buf.String())
	}
	if (&Report{Counts: []Count{{"runs", 7, 7}}}).OK() != true {
		t.Error("matching counts are not OK")
	}
}
