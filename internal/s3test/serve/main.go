// Command serve starts the S3 test server for tests outside Go (the
// MLflow suite): it creates a bucket, prints one JSON line with the
// endpoint, credentials, region and bucket, and stops the server when its
// standard input closes or it is signaled. It fails, saying why, when the
// server cannot be built or started.
//
//	go run ./internal/s3test/serve -bucket mlflow
//	go run ./internal/s3test/serve -build     # build it now (make deps-s3)
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/trainyard/trainyard/internal/s3test"
)

func main() {
	bucket := flag.String("bucket", "test", "bucket to create")
	build := flag.Bool("build", false, "only build the server's binary (into the cache the tests use) and exit")
	flag.Parse()
	if *build {
		script, err := s3test.Script()
		if err == nil {
			var dir string
			if dir, err = s3test.Build(script); err == nil {
				fmt.Println(dir)
				return
			}
		}
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	srv, err := s3test.Start()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer srv.Stop()
	if err := srv.NewBucket(context.Background(), *bucket); err != nil {
		fmt.Fprintln(os.Stderr, err)
		srv.Stop()
		os.Exit(1)
	}
	json.NewEncoder(os.Stdout).Encode(map[string]string{
		"endpoint": srv.Endpoint, "access_key": srv.AccessKey, "secret_key": srv.SecretKey,
		"region": srv.Region, "bucket": *bucket, "dir": srv.Dir,
	})
	done := make(chan struct{})
	go func() { io.Copy(io.Discard, os.Stdin); close(done) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	select {
	case <-done:
	case <-sig:
	}
}
