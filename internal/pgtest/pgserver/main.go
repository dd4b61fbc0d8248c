// Command pgserver starts a real PostgreSQL for tests that are not Go
// (the Python suites) and for benchmarks (package pgtest does the work):
// it prints the server's URL, without a database name, on one line of
// standard output, and stops the server and removes its files when
// standard input closes or it gets SIGINT or SIGTERM.
//
//	go run ./internal/pgtest/pgserver [-durable]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/trainyard/trainyard/internal/pgtest"
)

func main() {
	durable := flag.Bool("durable", false, "keep fsync on (benchmarks); off, commits skip fsync (tests)")
	flag.Parse()
	s, err := pgtest.Start(pgtest.Options{Durable: *durable})
	if err != nil {
		fmt.Fprintln(os.Stderr, "pgserver:", err)
		os.Exit(1)
	}
	fmt.Printf("postgres://trainyard@127.0.0.1:%d\n", s.Port) // add /DBNAME?sslmode=disable
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	select {
	case <-done:
	case <-sig:
	}
	s.Stop()
}
