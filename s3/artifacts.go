package s3

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"sort"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/semaphore"

	"github.com/trainyard/trainyard"
)

// Artifacts is a trainyard.ArtifactStore in an S3 bucket, and a
// trainyard.ArtifactTransfers for clients that move bytes themselves.
type Artifacts struct {
	cfg    Config
	client *minio.Client
	core   minio.Core
	bufs   *bufferPool
	now    func() time.Time
}

var (
	_ trainyard.ArtifactStore     = (*Artifacts)(nil)
	_ trainyard.ArtifactTransfers = (*Artifacts)(nil)
)

// Open connects to the bucket of cfg and checks that it exists and that
// the credentials may read it: a wrong endpoint, a missing bucket or a
// refused key is an error here, at start, that says which.
func Open(ctx context.Context, cfg Config) (*Artifacts, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	cfg.setDefaults()
	endpoint, secure, lookup := "s3.amazonaws.com", true, minio.BucketLookupAuto
	if cfg.Endpoint != "" {
		u, _ := url.Parse(cfg.Endpoint)
		endpoint, secure, lookup = u.Host, u.Scheme == "https", minio.BucketLookupPath
	}
	var creds *credentials.Credentials
	if cfg.AccessKey != "" {
		creds = credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken)
	} else {
		// What AWS's tools look for: the environment, the shared
		// credentials file (AWS_PROFILE), the web identity of a pod, the
		// instance's role.
		creds = credentials.NewChainCredentials([]credentials.Provider{
			&credentials.EnvAWS{}, &credentials.FileAWSCredentials{}, &credentials.IAM{},
		})
	}
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, err
	}
	tr.MaxIdleConnsPerHost = 64
	client, err := minio.New(endpoint, &minio.Options{
		Creds: creds, Secure: secure, Region: cfg.Region, BucketLookup: lookup, Transport: tr,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 client for %s: %w", endpoint, err)
	}
	a := &Artifacts{cfg: cfg, client: client, core: minio.Core{Client: client}, now: time.Now}
	a.bufs = &bufferPool{sem: semaphore.NewWeighted(cfg.MaxBuffered), max: cfg.MaxBuffered}
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ok, err := client.BucketExists(cctx, cfg.Bucket)
	if err != nil {
		return nil, fmt.Errorf("s3 bucket %s at %s: %w (check AWS_ENDPOINT_URL, AWS_REGION and the credentials)", cfg.Bucket, client.EndpointURL(), err)
	}
	if !ok {
		return nil, fmt.Errorf("s3 bucket %s does not exist at %s: create it first", cfg.Bucket, client.EndpointURL())
	}
	return a, nil
}

// URI is the store's s3://bucket/prefix.
func (a *Artifacts) URI() string { return "s3://" + a.cfg.Bucket + "/" + a.cfg.Prefix }

// root is the key prefix of a run's files.
func (a *Artifacts) root(runID string) string { return a.cfg.Prefix + runID + "/" }

// key is the object key of a run's file at a clean path.
func (a *Artifacts) key(runID, clean string) string { return a.root(runID) + clean }

// clean checks a run ID and a path and returns the path clean.
func clean(runID, p string) (string, error) {
	if err := trainyard.ValidateID("run", runID); err != nil {
		return "", err
	}
	return trainyard.CleanArtifactPath(p)
}

// cleanFile is clean for a path that must name a file.
func cleanFile(runID, p string) (string, error) {
	c, err := clean(runID, p)
	if err == nil && c == "" {
		err = trainyard.FieldError("path", "is empty: name the file")
	}
	return c, err
}

// PutArtifact streams r to the object at path, replacing any there, and
// returns once the storage has acknowledged it whole. Up to one part
// (Config.PartSize) is sent in one PUT; more is a multipart upload of
// parts of that size, Concurrency at a time, and an upload that fails or
// is canceled is aborted: nothing of it is visible, and a file that was
// there stays. Every request carries the part's MD5 (Content-MD5) and
// SHA-256 (the signed payload), which the storage checks before it keeps
// the bytes; the ETags it answers are checked against the MD5s. Returns
// ECONFLICT when a directory is at path or a file is above it (checked
// before the upload: S3 has no directories, so two writers racing to make
// "a" a file and a directory can both win).
func (a *Artifacts) PutArtifact(ctx context.Context, runID, p string, r io.Reader) (trainyard.ArtifactInfo, error) {
	c, err := cleanFile(runID, p)
	if err != nil {
		return trainyard.ArtifactInfo{}, err
	}
	if err := a.checkPlace(ctx, runID, c); err != nil {
		return trainyard.ArtifactInfo{}, err
	}
	n, err := a.upload(ctx, a.key(runID, c), c, r)
	if err != nil {
		return trainyard.ArtifactInfo{}, a.mapErr("write", p, err)
	}
	return trainyard.ArtifactInfo{Path: c, Size: n, ModTime: a.now().UTC()}, nil
}

// checkPlace returns ECONFLICT if a file is at any directory above clean
// or clean is a directory, as on a file system.
func (a *Artifacts) checkPlace(ctx context.Context, runID, c string) error {
	conflict := trainyard.Errorf(trainyard.ECONFLICT, "artifact path %q conflicts with an existing file or directory", c)
	g, gctx := errgroup.WithContext(ctx)
	for d := path.Dir(c); d != "."; d = path.Dir(d) {
		k := a.key(runID, d)
		g.Go(func() error {
			_, err := a.client.StatObject(gctx, a.cfg.Bucket, k, minio.StatObjectOptions{})
			switch {
			case err == nil:
				return conflict
			case isNotFound(err):
				return nil
			}
			return a.mapErr("check", c, err)
		})
	}
	g.Go(func() error {
		has, err := a.hasPrefix(gctx, a.key(runID, c)+"/")
		if has {
			return conflict
		}
		return err
	})
	return g.Wait()
}

// hasPrefix reports whether any object's key starts with prefix.
func (a *Artifacts) hasPrefix(ctx context.Context, prefix string) (bool, error) {
	noOwner := false
	for o := range a.client.ListObjectsIter(ctx, a.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, MaxKeys: 1, FetchOwner: &noOwner}) {
		if o.Err != nil {
			return false, a.mapErr("list", prefix, o.Err)
		}
		return true, nil
	}
	return false, ctx.Err()
}

// OpenArtifact opens the file at path for reading: one GET, whose answer
// fixes the version read (its ETag); a Seek away from where the answer's
// body is costs a ranged GET of that same version, and if the file was
// replaced in between the read fails with ECONFLICT rather than mixing
// versions. A read from the start to the end is checked against the
// checksums stored with the object (see checker) and fails, withholding
// its last bytes, if they differ. The file is read under ctx; the
// ReadSeekCloser is not safe for concurrent use. Returns ENOTFOUND if
// there is no file and EINVALID for a directory.
func (a *Artifacts) OpenArtifact(ctx context.Context, runID, p string) (io.ReadSeekCloser, trainyard.ArtifactInfo, error) {
	c, err := clean(runID, p)
	if err != nil {
		return nil, trainyard.ArtifactInfo{}, err
	}
	if c == "" {
		return nil, trainyard.ArtifactInfo{}, trainyard.FieldError("path", "%q is a directory: list it instead", p)
	}
	key := a.key(runID, c)
	// Ask for the CRC32C the store keeps, to check the read with (checker).
	opts := minio.GetObjectOptions{}
	opts.Set(hdrChecksumMode, "ENABLED")
	body, info, h, err := a.core.GetObject(ctx, a.cfg.Bucket, key, opts)
	if err != nil {
		if isNotFound(err) {
			if dir, derr := a.hasPrefix(ctx, key+"/"); derr == nil && dir {
				return nil, trainyard.ArtifactInfo{}, trainyard.FieldError("path", "%q is a directory: list it instead", p)
			}
			return nil, trainyard.ArtifactInfo{}, trainyard.Errorf(trainyard.ENOTFOUND, "run %s has no artifact %q", runID, p)
		}
		return nil, trainyard.ArtifactInfo{}, a.mapErr("open", p, err)
	}
	r := &reader{a: a, ctx: ctx, key: key, path: c, etag: info.ETag, size: info.Size, body: body}
	r.check = newChecker(info.ETag, h)
	if r.check != nil && !r.check.cheap() && info.Size >= hashAsync {
		r.hash = &hasher{c: r.check}
	}
	return r, trainyard.ArtifactInfo{Path: c, Size: info.Size, ModTime: info.LastModified.UTC()}, nil
}

// ListArtifacts lists the files and directories directly under dir (a
// directory is a common prefix of keys), or with recursive every file
// below it, sorted by path. A run without artifacts lists empty; a
// missing directory is ENOTFOUND and a file ECONFLICT, as on disk.
func (a *Artifacts) ListArtifacts(ctx context.Context, runID, dir string, recursive bool) ([]trainyard.ArtifactInfo, error) {
	c, err := clean(runID, dir)
	if err != nil {
		return nil, err
	}
	prefix := a.root(runID)
	if c != "" {
		prefix += c + "/"
	}
	out := []trainyard.ArtifactInfo{}
	noOwner := false
	for o := range a.client.ListObjectsIter(ctx, a.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: recursive, FetchOwner: &noOwner}) {
		if o.Err != nil {
			return nil, a.mapErr("list", dir, o.Err)
		}
		rel := strings.TrimPrefix(o.Key, prefix)
		switch {
		case rel == "":
			continue // a directory marker some tools make
		case strings.HasSuffix(rel, "/"):
			if recursive {
				continue // a directory marker deeper down
			}
			out = append(out, trainyard.ArtifactInfo{Path: path.Join(c, strings.TrimSuffix(rel, "/")), Dir: true})
		default:
			out = append(out, trainyard.ArtifactInfo{Path: path.Join(c, rel), Size: o.Size, ModTime: o.LastModified.UTC()})
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err // the listing stopped early
	}
	if len(out) == 0 && c != "" {
		if _, err := a.client.StatObject(ctx, a.cfg.Bucket, a.key(runID, c), minio.StatObjectOptions{}); err == nil {
			return nil, trainyard.Errorf(trainyard.ECONFLICT, "artifact path %q is a file, not a directory", dir)
		}
		return nil, trainyard.Errorf(trainyard.ENOTFOUND, "artifact %q not found", dir)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// DeleteArtifact removes the file at path and every file below it (a
// directory tree), with multi-object deletes of up to 1,000 keys. ""
// removes all the run's files. Returns ENOTFOUND if there is nothing.
func (a *Artifacts) DeleteArtifact(ctx context.Context, runID, p string) error {
	c, err := clean(runID, p)
	if err != nil {
		return err
	}
	prefix := a.root(runID)
	var keys []string
	if c != "" {
		key := a.key(runID, c)
		if _, err := a.client.StatObject(ctx, a.cfg.Bucket, key, minio.StatObjectOptions{}); err == nil {
			keys = append(keys, key)
		} else if !isNotFound(err) {
			return a.mapErr("delete", p, err)
		}
		prefix = key + "/"
	}
	noOwner := false
	for o := range a.client.ListObjectsIter(ctx, a.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true, FetchOwner: &noOwner}) {
		if o.Err != nil {
			return a.mapErr("delete", p, o.Err)
		}
		keys = append(keys, o.Key)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if len(keys) == 0 {
		return trainyard.Errorf(trainyard.ENOTFOUND, "artifact %q not found", p)
	}
	return a.removeKeys(ctx, p, keys)
}

// removeKeys deletes keys, 1,000 a request.
func (a *Artifacts) removeKeys(ctx context.Context, p string, keys []string) error {
	ch := make(chan minio.ObjectInfo)
	go func() {
		defer close(ch)
		for _, k := range keys {
			select {
			case ch <- minio.ObjectInfo{Key: k}:
			case <-ctx.Done():
				return
			}
		}
	}()
	var errs []error
	for e := range a.client.RemoveObjects(ctx, a.cfg.Bucket, ch, minio.RemoveObjectsOptions{}) {
		if e.Err != nil && !isNotFound(e.Err) {
			errs = append(errs, fmt.Errorf("%s: %w", e.ObjectName, e.Err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("delete artifact %q: %d of %d objects not deleted: %w", p, len(errs), len(keys), errors.Join(errs[:min(len(errs), 3)]...))
	}
	return ctx.Err()
}

// AbortStaleUploads aborts the multipart uploads under the store's prefix
// that began more than olderThan ago: those a killed server left behind
// (their parts cost storage but are never visible). Several servers may
// share a bucket, so younger uploads, which may be in progress, are kept.
func (a *Artifacts) AbortStaleUploads(ctx context.Context, olderThan time.Duration, log *slog.Logger) (int, error) {
	var keyMarker, idMarker string
	aborted := 0
	for {
		res, err := a.core.ListMultipartUploads(ctx, a.cfg.Bucket, a.cfg.Prefix, keyMarker, idMarker, "", 1000)
		if err != nil {
			return aborted, fmt.Errorf("list unfinished uploads: %w", err)
		}
		for _, u := range res.Uploads {
			if a.now().Sub(u.Initiated) < olderThan {
				continue
			}
			if err := a.core.AbortMultipartUpload(ctx, a.cfg.Bucket, u.Key, u.UploadID); err != nil && !isNotFound(err) {
				return aborted, fmt.Errorf("abort unfinished upload of %s: %w", u.Key, err)
			}
			aborted++
			if log != nil {
				log.Info("aborted an unfinished artifact upload", "key", u.Key, "initiated", u.Initiated)
			}
		}
		if !res.IsTruncated {
			return aborted, nil
		}
		keyMarker, idMarker = res.NextKeyMarker, res.NextUploadIDMarker
	}
}

// isNotFound reports whether err is S3's answer that there is no such
// object (or upload).
func isNotFound(err error) bool {
	r := minio.ToErrorResponse(err)
	switch r.Code {
	case "NoSuchKey", "NotFound", "NoSuchUpload":
		return true
	}
	return r.StatusCode == http.StatusNotFound && r.Code != "NoSuchBucket"
}

// mapErr turns the storage's answers into trainyard's codes where one
// fits; anything else is internal (the cause goes to the log).
func (a *Artifacts) mapErr(op, p string, err error) error {
	var te *trainyard.Error
	if errors.As(err, &te) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	r := minio.ToErrorResponse(err)
	switch r.Code {
	case "NoSuchKey", "NotFound":
		return trainyard.Errorf(trainyard.ENOTFOUND, "artifact %q not found", p)
	case "NoSuchUpload":
		return trainyard.Errorf(trainyard.ENOTFOUND, "no such upload of artifact %q (finished, aborted or never begun)", p)
	case "EntityTooLarge":
		return trainyard.Errorf(trainyard.ETOOLARGE, "artifact %q is larger than the storage accepts", p)
	case "InvalidPart", "InvalidPartOrder", "EntityTooSmall":
		return trainyard.Errorf(trainyard.EINVALID, "artifact %q: %s", p, r.Message)
	case "SlowDown", "ServiceUnavailable", "RequestTimeout":
		return trainyard.Errorf(trainyard.EUNAVAILABLE, "the artifact storage is busy (%s): try again", r.Code)
	}
	return fmt.Errorf("%s artifact %q in s3://%s: %w", op, p, a.cfg.Bucket, err)
}

// contextReader stops a copy when ctx ends.
type contextReader struct {
	ctx context.Context
	r   io.Reader
}

func (c contextReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
