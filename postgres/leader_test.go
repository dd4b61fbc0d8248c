package postgres

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/pgtest"
)

// A leader whose session the database ends (as when its connection
// breaks) loses its lease within seconds, and another server takes over
// with a higher epoch.
func TestLeaseLostWhenTheSessionEnds(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	a, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(ctx, url, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	la, err := a.Campaign(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	pid := la.(*lease).conn.PgConn().PID()
	if _, err := b.pool.Exec(ctx, `SELECT pg_terminate_backend($1)`, pid); err != nil {
		t.Fatal(err)
	}
	select {
	case <-la.Lost():
	case <-time.After(10 * time.Second):
		t.Fatal("the lease was not lost 10 s after its session ended")
	}
	c, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	lb, err := b.Campaign(c, "b")
	if err != nil {
		t.Fatalf("no new leader: %v", err)
	}
	defer lb.Release()
	if lb.Epoch() <= la.Epoch() {
		t.Fatalf("epoch %d after %d", lb.Epoch(), la.Epoch())
	}
	var holder string
	if err := b.pool.QueryRow(ctx, `SELECT holder FROM leader`).Scan(&holder); err != nil || holder != "b" {
		t.Fatalf("leader row names %q, %v", holder, err)
	}
}

// PostgreSQL's disk_full is the full-disk cause trainyard maps (ENOSPC);
// text it cannot hold is the caller's error.
func TestErrorMapping(t *testing.T) {
	full := wrap(&pgconn.PgError{Code: "53100", Message: "could not extend file"}, "insert run %s", "r")
	if !errors.Is(full, syscall.ENOSPC) {
		t.Fatalf("disk_full: %v does not read as ENOSPC", full)
	}
	nul := wrap(&pgconn.PgError{Code: "22021", Message: "invalid byte sequence"}, "insert run %s", "r")
	if trainyard.ErrorCode(nul) != trainyard.EINVALID {
		t.Fatalf("a NUL in text: %v, want EINVALID", nul)
	}
	if wrap(pgx.ErrNoRows, "x") == nil || wrap(nil, "x") != nil {
		t.Fatal("wrap")
	}
}

// A real store refuses a NUL character with EINVALID, storing nothing.
func TestNULIsRefused(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.NewDatabase(t), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	r := &trainyard.Run{ID: "r", Project: "p", Name: "a\x00b", State: trainyard.StateRunning, CreatedAt: time.Now()}
	if err := s.CreateRun(ctx, r); trainyard.ErrorCode(err) != trainyard.EINVALID {
		t.Fatalf("CreateRun with a NUL in the name: %v, want EINVALID", err)
	}
	if _, err := s.Run(ctx, "r"); trainyard.ErrorCode(err) != trainyard.ENOTFOUND {
		t.Fatalf("the refused run: %v", err)
	}
}

// The leader's URL is the one the last elected server gave: the others
// read it to forward sweep changes.
func TestLeaderURLIsTheLastElected(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	var stores []*Store
	for _, peer := range []string{"http://10.0.0.1:8080", "http://10.0.0.2:8080"} {
		s, err := Open(ctx, url, Options{PeerURL: peer})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		stores = append(stores, s)
	}
	if got, err := stores[1].LeaderURL(ctx); got != "" || err != nil {
		t.Errorf("before any election: %q, %v; want \"\"", got, err)
	}
	for i, s := range stores {
		l, err := s.Campaign(ctx, "x")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range stores {
			if got, err := r.LeaderURL(ctx); err != nil || got != s.peer {
				t.Errorf("after server %d was elected: %q, %v; want %q", i, got, err, s.peer)
			}
		}
		l.Release()
	}
}
