package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/disk"
	"github.com/trainyard/trainyard/s3"
)

// staleUploads is how old an unfinished multipart upload in the bucket
// must be before a starting server aborts it: older than any upload in
// progress on another server sharing the bucket.
const staleUploads = 24 * time.Hour

// openArtifacts opens the artifact store that --artifacts names:
//
//	""                    DATA/artifacts on this machine's disk
//	DIR or file://DIR     that directory
//	s3://BUCKET/PREFIX    an S3-compatible bucket; the endpoint, region and
//	                      credentials come from the AWS_* variables
//
// It returns the store's direct transfers (presigned URLs for MLflow
// clients) too when it has them and direct is set.
func openArtifacts(ctx context.Context, uri, data string, direct bool, logger *slog.Logger) (trainyard.ArtifactStore, trainyard.ArtifactTransfers, string, error) {
	switch {
	case strings.HasPrefix(uri, "s3://"):
		cfg, err := s3.FromEnv(uri, os.Getenv)
		if err != nil {
			return nil, nil, "", fmt.Errorf("--artifacts %s: %w", uri, err)
		}
		a, err := s3.Open(ctx, cfg)
		if err != nil {
			return nil, nil, "", fmt.Errorf("--artifacts %s: %w", uri, err)
		}
		go func() {
			if n, err := a.AbortStaleUploads(ctx, staleUploads, logger); err != nil {
				logger.Warn("could not abort the artifact uploads killed servers left", "err", err)
			} else if n > 0 {
				logger.Info("aborted artifact uploads that killed servers left", "uploads", n)
			}
		}()
		if !direct {
			return a, nil, a.URI(), nil
		}
		return a, a, a.URI(), nil
	case strings.Contains(uri, "://") && !strings.HasPrefix(uri, "file://"):
		return nil, nil, "", fmt.Errorf("--artifacts %q: want a directory, file://DIR or s3://BUCKET/PREFIX", uri)
	}
	dir := strings.TrimPrefix(uri, "file://")
	if dir == "" {
		dir = filepath.Join(data, "artifacts")
	}
	dir, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, "", err
	}
	a, err := disk.NewArtifacts(dir)
	if err != nil {
		return nil, nil, "", err
	}
	return a, nil, dir, nil
}

func envBool(k string, def bool) bool {
	if v := env(k, ""); v != "" {
		if b, err := strconv.ParseBool(v); err == nil {
			return b
		}
		fmt.Fprintf(os.Stderr, "trainyard: ignoring %s=%q: not true or false\n", k, v)
	}
	return def
}
