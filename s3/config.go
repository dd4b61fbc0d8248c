package s3

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/minio/minio-go/v7/pkg/s3utils"
)

// Config says where artifacts are kept and how they move. FromEnv fills
// it the way AWS's tools do; the zero values of the tuning fields take the
// defaults documented next to them.
type Config struct {
	Bucket string
	Prefix string // key prefix: "" or ending in "/"

	// Endpoint is the server's URL, http(s)://host[:port]; empty means
	// AWS (s3.amazonaws.com). A custom endpoint is addressed path-style
	// (http://host/bucket/key), as S3-compatible servers expect.
	Endpoint     string
	Region       string // default us-east-1
	AccessKey    string // with SecretKey: static credentials; empty: the AWS chain
	SecretKey    string
	SessionToken string

	// PartSize is the size of a multipart upload's parts (default 8 MiB,
	// at least 5 MiB); a file of at most one part is sent in one PUT.
	// Parts grow (see partSize) so that an object of up to ~500 GiB fits
	// in S3's 10,000 parts.
	PartSize int64
	// Concurrency is the parts of one upload in flight at once (default 4).
	Concurrency int
	// MaxBuffered bounds the memory all uploads hold in part buffers
	// together (default 256 MiB): an upload waits for a buffer when it is
	// spent. One upload holds at most Concurrency+1 parts.
	MaxBuffered int64
	// PresignExpiry is how long a presigned URL for an MLflow client's
	// part upload or download stays valid (default 1 hour).
	PresignExpiry time.Duration
}

// Defaults.
const (
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 4
	DefaultMaxBuffered = 256 << 20
	minPartSize        = 5 << 20 // S3's minimum for every part but the last
	maxParts           = 10000
)

func (c *Config) setDefaults() {
	if c.PartSize <= 0 {
		c.PartSize = DefaultPartSize
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.MaxBuffered <= 0 {
		c.MaxBuffered = DefaultMaxBuffered
	}
	if c.Region == "" {
		c.Region = "us-east-1"
	}
	if c.PresignExpiry <= 0 {
		c.PresignExpiry = time.Hour
	}
}

// Validate reports every problem of c at once, each naming its field.
func (c Config) Validate() error {
	var errs []error
	if err := s3utils.CheckValidBucketNameStrict(c.Bucket); err != nil {
		errs = append(errs, fmt.Errorf("bucket %q: %v", c.Bucket, err))
	}
	if c.Prefix != "" && (!strings.HasSuffix(c.Prefix, "/") || strings.HasPrefix(c.Prefix, "/") || strings.Contains(c.Prefix, "//")) {
		errs = append(errs, fmt.Errorf("prefix %q: want a relative key prefix ending in /", c.Prefix))
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("endpoint %q (AWS_ENDPOINT_URL): want http(s)://host[:port]", c.Endpoint))
		}
	}
	if (c.AccessKey == "") != (c.SecretKey == "") {
		errs = append(errs, errors.New("credentials: AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together"))
	}
	if c.PartSize != 0 && c.PartSize < minPartSize {
		errs = append(errs, fmt.Errorf("part size %d: S3 needs at least 5 MiB", c.PartSize))
	}
	if c.MaxBuffered != 0 && c.PartSize != 0 && c.MaxBuffered < c.PartSize {
		errs = append(errs, fmt.Errorf("max buffered %d: less than one part (%d)", c.MaxBuffered, c.PartSize))
	}
	return errors.Join(errs...)
}

// ParseURI splits s3://bucket/prefix into the bucket and a key prefix
// that is "" or ends in "/".
func ParseURI(uri string) (bucket, prefix string, err error) {
	rest, ok := strings.CutPrefix(uri, "s3://")
	if !ok {
		return "", "", fmt.Errorf("%q is not an s3:// URI: want s3://bucket/prefix", uri)
	}
	if strings.ContainsAny(rest, "?#") {
		return "", "", fmt.Errorf("%q: an s3:// URI has no query or fragment", uri)
	}
	bucket, prefix, _ = strings.Cut(rest, "/")
	if bucket == "" {
		return "", "", fmt.Errorf("%q names no bucket: want s3://bucket/prefix", uri)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		for _, seg := range strings.Split(prefix, "/") {
			if seg == "" || seg == "." || seg == ".." {
				return "", "", fmt.Errorf("%q: the prefix may not hold empty, . or .. segments", uri)
			}
		}
		prefix += "/"
	}
	return bucket, prefix, nil
}

// FromEnv makes the Config of an s3://bucket/prefix URI with the endpoint,
// region and credentials from AWS's variables, read through getenv:
// AWS_ENDPOINT_URL_S3 or AWS_ENDPOINT_URL, AWS_REGION or
// AWS_DEFAULT_REGION, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and
// AWS_SESSION_TOKEN. Without keys in the environment, Open looks for
// credentials as AWS's tools do (~/.aws/credentials with AWS_PROFILE, then
// the instance's or pod's role).
func FromEnv(uri string, getenv func(string) string) (Config, error) {
	bucket, prefix, err := ParseURI(uri)
	if err != nil {
		return Config{}, err
	}
	c := Config{Bucket: bucket, Prefix: prefix}
	c.Endpoint = getenv("AWS_ENDPOINT_URL_S3")
	if c.Endpoint == "" {
		c.Endpoint = getenv("AWS_ENDPOINT_URL")
	}
	c.Endpoint = strings.TrimSuffix(c.Endpoint, "/")
	c.Region = getenv("AWS_REGION")
	if c.Region == "" {
		c.Region = getenv("AWS_DEFAULT_REGION")
	}
	c.AccessKey, c.SecretKey, c.SessionToken = getenv("AWS_ACCESS_KEY_ID"), getenv("AWS_SECRET_ACCESS_KEY"), getenv("AWS_SESSION_TOKEN")
	return c, c.Validate()
}
