package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/postgres"
	"github.com/trainyard/trainyard/sqlite"
)

// isPostgres says whether a --db value names a PostgreSQL database.
func isPostgres(db string) bool {
	return strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
}

// openStore opens the database --db names: SQLite in the data directory
// by default, or PostgreSQL, which is then also the store several servers
// share (shared is nil for SQLite), where peerURL is recorded while this
// server leads.
func openStore(ctx context.Context, cfg Config, data, peerURL string, logger *slog.Logger) (store trainyard.Store, shared trainyard.SharedStore, err error) {
	switch {
	case cfg.DB == "":
		s, err := sqlite.Open(ctx, filepath.Join(data, "trainyard.db"), sqlite.Options{Sync: cfg.Sync})
		return s, nil, err
	case isPostgres(cfg.DB):
		s, err := postgres.Open(ctx, cfg.DB, postgres.Options{Logger: logger, PeerURL: peerURL})
		if err != nil {
			return nil, nil, err
		}
		return s, s, nil
	}
	return nil, nil, trainyard.FieldError("db", "%q is not a PostgreSQL URL (postgres://user@host:5432/trainyard); leave it empty for SQLite in the data directory", cfg.DB)
}

// describeDB names the database for the banner.
func describeDB(cfg Config, data string) string {
	if cfg.DB == "" {
		return fmt.Sprintf("SQLite (%s)", filepath.Join(data, "trainyard.db"))
	}
	db := cfg.DB
	if at := strings.LastIndexByte(db, '@'); at > 0 {
		if i := strings.Index(db, "://"); i > 0 && i < at {
			if user, _, ok := strings.Cut(db[i+3:at], ":"); ok {
				db = db[:i+3] + user + ":***" + db[at:]
			}
		}
	}
	return "PostgreSQL (" + db + ")"
}
