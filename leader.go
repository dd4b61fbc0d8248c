package trainyard

import "context"

// SharedStore is a Store that several trainyard servers use at once
// (PostgreSQL). Every server serves the API; one at a time, the leader,
// schedules and follows jobs. The others store submissions, record cancels
// for the leader to carry out, and serve reads.
//
// Fencing: a leader writes job changes with a context made by
// WithLeaderEpoch. UpdateJobs with such a context checks, in the same
// transaction as its compare-and-set, that the epoch is still the current
// one, and otherwise writes nothing and returns ECONFLICT: a leader that
// was deposed (its lease lost, a new leader elected) cannot record a start,
// so it never starts a job the new leader may start too.
type SharedStore interface {
	Store
	// Campaign blocks until this server leads, or ctx ends. holder names
	// the server in messages. Every lease has a higher epoch than any
	// before it.
	Campaign(ctx context.Context, holder string) (Lease, error)
	// RequestCancel records that a QUEUED or RUNNING job is to be
	// canceled (Job.CancelRequested) and tells the leader. Returns the job
	// as it now is; ENOTFOUND if there is no such job. A finished job is
	// returned unchanged.
	RequestCancel(ctx context.Context, id string) (*Job, error)
	// CancelRequests lists the QUEUED and RUNNING jobs whose cancel was
	// requested.
	CancelRequests(ctx context.Context) ([]string, error)
	// WatchJobs returns a channel that receives soon after any server
	// creates a job or requests a cancel (several changes may make one
	// receive), until ctx ends. Nothing is lost between a receive and the
	// reads that follow it; a receive may also come without a change.
	WatchJobs(ctx context.Context) <-chan struct{}
}

// Lease is a won election.
type Lease interface {
	// Epoch is this leadership's fencing token.
	Epoch() int64
	// Lost is closed once the lease is lost (its connection to the store
	// broke, so another server may lead) or released.
	Lost() <-chan struct{}
	// Release gives leadership up.
	Release()
}

type epochKey struct{}

// WithLeaderEpoch returns a context whose job updates a SharedStore applies
// only while epoch is the current leader's.
func WithLeaderEpoch(ctx context.Context, epoch int64) context.Context {
	return context.WithValue(ctx, epochKey{}, epoch)
}

// LeaderEpoch returns the epoch WithLeaderEpoch put in ctx.
func LeaderEpoch(ctx context.Context) (int64, bool) {
	e, ok := ctx.Value(epochKey{}).(int64)
	return e, ok
}
