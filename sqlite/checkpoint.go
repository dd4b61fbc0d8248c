package sqlite

import (
	"database/sql"
	"fmt"
	"log/slog"
	"os"
	"time"
)

// checkpointer copies the WAL into the database file, off the writer's
// path. SQLite's automatic checkpoint runs in the connection that commits
// and stalls it; the writer turns it off (wal_autocheckpoint=0) and this
// goroutine checkpoints on a connection of its own, PASSIVE: as many
// frames as it can without waiting for readers or writers, which go on
// meanwhile. Once the whole WAL is in the database file, the next write
// starts the WAL from its beginning again, so it does not grow.
type checkpointer struct {
	db   *sql.DB
	wal  string
	quit chan struct{}
	done chan struct{}
}

// checkpointEvery is how often the WAL is looked at; checkpointAt the size
// from which it is checkpointed (SQLite's default is 1000 pages, 16 MiB
// here): off the writer's path a larger WAL costs nothing, and fewer
// checkpoints rewrite fewer pages and sync the database file less often.
const (
	checkpointEvery = 500 * time.Millisecond
	checkpointAt    = 32 << 20
)

func startCheckpointer(path, dsn string) (*checkpointer, error) {
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("open %s for checkpoints: %w", path, err)
	}
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	c := &checkpointer{db: db, wal: path + "-wal", quit: make(chan struct{}), done: make(chan struct{})}
	go c.loop()
	return c, nil
}

func (c *checkpointer) stop() {
	select {
	case <-c.quit:
	default:
		close(c.quit)
	}
	<-c.done
}

func (c *checkpointer) loop() {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	var lastErr time.Time
	for {
		select {
		case <-c.quit:
			return
		case <-t.C:
		}
		st, err := os.Stat(c.wal)
		if err != nil || st.Size() < checkpointAt {
			continue
		}
		var busy, frames, done int
		err = c.db.QueryRow("PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &done)
		if err != nil && time.Since(lastErr) > time.Minute {
			lastErr = time.Now()
			slog.Warn("checkpoint the database's WAL", "wal", c.wal, "err", err)
		}
	}
}
