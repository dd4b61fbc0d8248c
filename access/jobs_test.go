package access

import (
	"testing"

	"github.com/trainyard/trainyard"
)

// leadingJobs is a job service that says whether it schedules, as the
// dispatcher does; the guard must keep saying it (GET /api/v1/health
// reports the role from it, and several servers on one database rely on
// it).
type leadingJobs struct {
	trainyard.JobService
	leading bool
}

func (l *leadingJobs) Leading() bool { return l.leading }

func TestGuardedJobsKeepLeading(t *testing.T) {
	r := newRig(t, "")
	inner := &leadingJobs{}
	l, ok := r.s.Jobs(inner).(interface{ Leading() bool })
	if !ok {
		t.Fatal("the guarded job service lost Leading")
	}
	if l.Leading() {
		t.Error("Leading() = true for a follower")
	}
	inner.leading = true
	if !l.Leading() {
		t.Error("Leading() = false for the leader")
	}
	if _, ok := r.s.Jobs(struct{ trainyard.JobService }{}).(interface{ Leading() bool }); ok {
		t.Error("a service that does not say whether it leads got Leading through the guard")
	}
}
