package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/internal/pgtest"
	"github.com/trainyard/trainyard/postgres"
	"github.com/trainyard/trainyard/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// factory opens a store on a new database of a real PostgreSQL that the
// test starts (package pgtest).
func factory(t *testing.T) (trainyard.Store, func() trainyard.Store) {
	url := pgtest.NewDatabase(t)
	open := func() trainyard.Store {
		s, err := postgres.Open(context.Background(), url, postgres.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return open(), open
}

func TestConformance(t *testing.T) { storetest.Run(t, factory) }

func TestSharedConformance(t *testing.T) { storetest.RunShared(t, factory) }
