package dispatch

import (
	"slices"
	"strings"
	"testing"

	"github.com/trainyard/trainyard"
)

// TestEnvWithholdsFromTheBaseOnly: a withheld variable of the base is not
// in the job's environment, but the job's own env may still set it.
func TestEnvWithholdsFromTheBaseOnly(t *testing.T) {
	d := &Dispatcher{cfg: Config{
		ServerURL: "http://127.0.0.1:1",
		BaseEnv:   []string{"PATH=/bin", "AWS_SECRET_ACCESS_KEY=server", "AWS_ACCESS_KEY_ID=server"},
		Withhold: func(j *trainyard.Job) []string {
			if j.Owner == "alice" {
				return []string{"AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID"}
			}
			return nil
		},
	}}
	for _, tc := range []struct {
		name string
		job  trainyard.Job
		want []string // the variables of interest, in order
	}{
		{"not withheld", trainyard.Job{ID: "j1"}, []string{"AWS_ACCESS_KEY_ID=server", "AWS_SECRET_ACCESS_KEY=server", "PATH=/bin"}},
		{"withheld", trainyard.Job{ID: "j2", Owner: "alice"}, []string{"PATH=/bin"}},
		{"the job's own", trainyard.Job{ID: "j3", Owner: "alice", JobSpec: trainyard.JobSpec{Env: map[string]string{"AWS_ACCESS_KEY_ID": "alice's"}}},
			[]string{"AWS_ACCESS_KEY_ID=alice's", "PATH=/bin"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, kv := range d.env(&tc.job) {
				if strings.HasPrefix(kv, "AWS_") || strings.HasPrefix(kv, "PATH=") {
					got = append(got, kv)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("env = %q, want %q", got, tc.want)
			}
		})
	}
}
