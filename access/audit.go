package access

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/trainyard/trainyard"
)

// The audit log records every change of state made through the APIs except
// the data runs write (metric points, params, tags, logs, artifact files):
// jobs submitted and canceled; sweeps created, paused, resumed and
// stopped; runs created, renamed, ended by a client, deleted and restored;
// projects created, renamed, deleted, restored and tagged; the model
// registry; users, roles, tokens, logins and logouts.
//
// An entry is durable before the request that made the change is
// answered. Entries made at the same time share one transaction (group
// commit), so a burst of submissions costs one more commit, not one each.

type auditReq struct {
	e    *trainyard.AuditEntry
	done chan struct{}
}

type auditor struct {
	mu     sync.RWMutex
	closed bool
	store  trainyard.AuditStore
	log    *slog.Logger
	reqs   chan *auditReq
	quit   chan struct{}
	done   chan struct{}
}

func newAuditor(store trainyard.AuditStore, log *slog.Logger) *auditor {
	a := &auditor{store: store, log: log, reqs: make(chan *auditReq, 1024), quit: make(chan struct{}), done: make(chan struct{})}
	go a.loop()
	return a
}

// append stores e and returns once it is durable (or could not be made
// so, which is logged: the change it records has already happened).
func (a *auditor) append(e *trainyard.AuditEntry) {
	r := &auditReq{e: e, done: make(chan struct{})}
	a.mu.RLock()
	if a.closed {
		a.mu.RUnlock()
		a.log.Error("audit log closed; entry lost", "action", e.Action, "target", e.Target, "actor", e.Actor)
		return
	}
	a.reqs <- r
	a.mu.RUnlock()
	<-r.done
}

func (a *auditor) loop() {
	defer close(a.done)
	for {
		var group []*auditReq
		select {
		case r := <-a.reqs:
			group = append(group, r)
		case <-a.quit:
			// Drain what was sent before the log closed.
			for drained := false; !drained; {
				select {
				case r := <-a.reqs:
					group = append(group, r)
				default:
					drained = true
				}
			}
			if len(group) > 0 {
				a.write(group)
			}
			return
		}
	fill:
		for len(group) < 256 {
			select {
			case r := <-a.reqs:
				group = append(group, r)
			default:
				break fill
			}
		}
		a.write(group)
	}
}

func (a *auditor) write(group []*auditReq) {
	es := make([]*trainyard.AuditEntry, len(group))
	for i, r := range group {
		es[i] = r.e
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.store.AppendAudit(ctx, es...); err != nil {
		a.log.Error("write audit entries", "n", len(es), "err", err)
	}
	for _, r := range group {
		close(r.done)
	}
}

func (a *auditor) stop() {
	a.mu.Lock()
	if !a.closed {
		a.closed = true
		close(a.quit)
	}
	a.mu.Unlock()
	<-a.done
}

// record appends an audit entry for a change the caller made.
func (s *Service) record(ctx context.Context, action, target, project, detail string) {
	s.audit.append(&trainyard.AuditEntry{
		Time: s.clock().UTC(), Actor: trainyard.IdentityFrom(ctx).Actor(),
		Action: action, Target: target, Project: project, Detail: detail,
	})
}

// RecordSweep records a change a caller made to a sweep in the audit log
// (sweep.Config.Audit): action is sweep.create, sweep.pause, sweep.resume
// or sweep.stop.
func (s *Service) RecordSweep(ctx context.Context, action string, sw *trainyard.Sweep) {
	s.record(ctx, action, "sweep/"+sw.ID, sw.Project, "")
}
