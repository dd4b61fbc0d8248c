package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sqlite"
	"github.com/trainyard/trainyard/storetest"
)

func factory(t *testing.T) (trainyard.Store, func() trainyard.Store) {
	path := filepath.Join(t.TempDir(), "trainyard.db")
	open := func() trainyard.Store {
		s, err := sqlite.Open(context.Background(), path, sqlite.Options{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	return open(), open
}

func TestConformance(t *testing.T) { storetest.Run(t, factory) }
