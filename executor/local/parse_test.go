package local

import (
	"fmt"
	"testing"
)

func TestParseStat(t *testing.T) {
	rest := " 1 1 0 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 "
	tests := []struct {
		line      string
		wantState byte
		wantStart uint64
		wantErr   bool
	}{
		{"42 (sleep) S" + rest + "123456 8 9\n", 'S', 123456, false},
		{"42 (a) (b) Z" + rest + "7 8 9\n", 'Z', 7, false}, // comm "a) (b"
		{"42 (x y) R" + rest + "99", 'R', 99, false},
		{"42 sleep S" + rest + "1", 0, 0, true},
		{"42 (sleep) S 1 1", 0, 0, true},
		{"42 (sleep) S" + rest + "-1", 0, 0, true},
	}
	for _, tt := range tests {
		st, start, err := parseStat([]byte(tt.line))
		if (err != nil) != tt.wantErr || st != tt.wantState || start != tt.wantStart {
			t.Errorf("parseStat(%q) = %q, %d, %v; want %q, %d, error %v", tt.line, st, start, err, tt.wantState, tt.wantStart, tt.wantErr)
		}
	}
}

func TestParseAnswer(t *testing.T) {
	tests := []struct {
		line      string
		wantPID   int
		wantStart uint64
		wantMsg   string
		wantErr   bool
	}{
		{"started 123 456", 123, 456, "", false},
		{`error exec: "x": executable file not found in $PATH`, 0, 0, `exec: "x": executable file not found in $PATH`, false},
		{"started 123", 0, 0, "", true},
		{"started -1 5", 0, 0, "", true},
		{"started 1 5 6", 0, 0, "", true},
		{"error ", 0, 0, "", true},
		{"hello", 0, 0, "", true},
	}
	for _, tt := range tests {
		pid, start, msg, err := parseAnswer(tt.line)
		if pid != tt.wantPID || start != tt.wantStart || msg != tt.wantMsg || (err != nil) != tt.wantErr {
			t.Errorf("parseAnswer(%q) = %d, %d, %q, %v; want %d, %d, %q, error %v",
				tt.line, pid, start, msg, err, tt.wantPID, tt.wantStart, tt.wantMsg, tt.wantErr)
		}
	}
}

func FuzzParseAnswer(f *testing.F) {
	f.Add("started 123 456")
	f.Add("error workdir missing")
	f.Fuzz(func(t *testing.T, line string) {
		pid, start, msg, err := parseAnswer(line)
		if err != nil || msg != "" {
			return
		}
		if pid <= 0 {
			t.Fatalf("parseAnswer(%q) = pid %d without error", line, pid)
		}
		if again, _, _, _ := parseAnswer(fmt.Sprintf("started %d %d", pid, start)); again != pid {
			t.Fatalf("round trip of %q gives pid %d", line, again)
		}
	})
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("42 (sleep) S 1 1 0 0 -1 4194560 100 0 0 0 0 0 0 0 20 0 1 0 123456 8 9\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		parseStat(b) // must not panic
	})
}
