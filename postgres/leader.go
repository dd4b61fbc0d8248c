package postgres

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/trainyard/trainyard"
)

var _ trainyard.SharedStore = (*Store)(nil)

// Leadership: a session advisory lock, held on a connection of its own for
// as long as the server leads. PostgreSQL releases it when that session
// ends — the server exits or is killed (the kernel closes its socket), or
// its connection breaks (TCP keepalives, set below, notice a silent peer
// within seconds). Whoever takes the lock next raises the epoch in the
// leader table; UpdateJobs under an older epoch is refused (see jobs.go),
// and the raise waits for any such update in flight, so that a deposed
// leader's last start is either committed before the new leader reads the
// jobs or refused.

// leaderLock is the advisory lock's key ("trainyar" in ASCII).
const leaderLock int64 = 0x747261696e796172

// LeaderLockKey is the advisory lock the scheduling server holds: a tool
// that takes it (trainyard migrate) knows that no server schedules on the
// database meanwhile.
const LeaderLockKey = leaderLock

// Election timing: how often a follower tries the lock, and how often a
// leader checks that its connection is alive.
var (
	campaignEvery = 250 * time.Millisecond
	pingEvery     = time.Second
	pingTimeout   = 3 * time.Second
)

func (s *Store) dedicatedConn(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(s.url)
	if err != nil {
		return nil, err
	}
	// The server side notices a dead client (no FIN: a machine or network
	// gone) after about 5 + 3×2 seconds.
	cfg.RuntimeParams["tcp_keepalives_idle"] = "5"
	cfg.RuntimeParams["tcp_keepalives_interval"] = "2"
	cfg.RuntimeParams["tcp_keepalives_count"] = "3"
	cfg.RuntimeParams["application_name"] = "trainyard"
	return pgx.ConnectConfig(ctx, cfg)
}

// Campaign blocks until this server holds the leader lock, then raises
// the epoch.
func (s *Store) Campaign(ctx context.Context, holder string) (trainyard.Lease, error) {
	for {
		conn, err := s.dedicatedConn(ctx)
		if err != nil {
			s.log.Warn("leader election: cannot connect; retrying", "err", err)
			if err := sleep(ctx, time.Second); err != nil {
				return nil, err
			}
			continue
		}
		lease, err := s.campaignOn(ctx, conn, holder)
		if err == nil {
			return lease, nil
		}
		conn.Close(context.Background())
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		s.log.Warn("leader election: connection lost; retrying", "err", err)
	}
}

func (s *Store) campaignOn(ctx context.Context, conn *pgx.Conn, holder string) (*lease, error) {
	for {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, leaderLock).Scan(&got); err != nil {
			return nil, err
		}
		if got {
			break
		}
		if err := sleep(ctx, campaignEvery); err != nil {
			return nil, err
		}
	}
	var epoch int64
	err := conn.QueryRow(ctx, `UPDATE leader SET epoch = epoch + 1, holder = $1, since = $2, url = $3 WHERE id = 1 RETURNING epoch`,
		holder, toMicros(s.now()), s.peer).Scan(&epoch)
	if err != nil {
		conn.Exec(context.Background(), `SELECT pg_advisory_unlock($1)`, leaderLock)
		return nil, fmt.Errorf("raise the leader epoch: %w", err)
	}
	l := &lease{conn: conn, epoch: epoch, lost: make(chan struct{}), stop: make(chan struct{})}
	go l.watch()
	return l, nil
}

// LeaderURL returns the API URL of the server that was elected last
// (Options.PeerURL; "" when it gave none). That server may have died
// since: until another is elected, the URL may not answer.
func (s *Store) LeaderURL(ctx context.Context) (string, error) {
	var url string
	if err := s.pool.QueryRow(ctx, `SELECT url FROM leader WHERE id = 1`).Scan(&url); err != nil {
		return "", fmt.Errorf("read the leader's URL: %w", err)
	}
	return url, nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// lease is a held leader lock.
type lease struct {
	conn  *pgx.Conn
	epoch int64
	lost  chan struct{}
	stop  chan struct{}
	once  sync.Once
	mu    sync.Mutex // the connection: the watcher's pings, Release
}

func (l *lease) Epoch() int64          { return l.epoch }
func (l *lease) Lost() <-chan struct{} { return l.lost }

// watch pings the lock's connection; a failed ping loses the lease.
func (l *lease) watch() {
	t := time.NewTicker(pingEvery)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
		l.mu.Lock()
		err := l.conn.Ping(ctx)
		l.mu.Unlock()
		cancel()
		if err != nil {
			l.end(false)
			return
		}
	}
}

// Release unlocks and closes the lock's connection.
func (l *lease) Release() { l.end(true) }

func (l *lease) end(unlock bool) {
	l.once.Do(func() {
		close(l.stop)
		l.mu.Lock()
		if unlock {
			ctx, cancel := context.WithTimeout(context.Background(), pingTimeout)
			l.conn.Exec(ctx, `SELECT pg_advisory_unlock($1)`, leaderLock)
			cancel()
		}
		l.conn.Close(context.Background())
		l.mu.Unlock()
		close(l.lost)
	})
}

// WatchJobs listens for new jobs and cancel requests (NOTIFY on
// jobsChannel) on a connection of its own, reconnecting when it breaks
// (and then sending once, since notifications may have been missed).
func (s *Store) WatchJobs(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	send := func() {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
	go func() {
		for ctx.Err() == nil {
			conn, err := s.dedicatedConn(ctx)
			if err == nil {
				_, err = conn.Exec(ctx, "LISTEN "+jobsChannel)
			}
			if err == nil {
				send() // anything between the last connection and this one
				for {
					if _, err = conn.WaitForNotification(ctx); err != nil {
						break
					}
					send()
				}
			}
			if conn != nil {
				conn.Close(context.Background())
			}
			if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
				s.log.Warn("watching jobs: connection lost; reconnecting", "err", err)
				sleep(ctx, time.Second)
			}
		}
	}()
	return ch
}
