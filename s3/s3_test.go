package s3

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"golang.org/x/sync/semaphore"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/artifacttest"
	"github.com/trainyard/trainyard/internal/s3test"
)

var ctx = context.Background()

// Every test that needs storage runs against a real S3-compatible server
// (SeaweedFS, started once for the package by s3test); one that cannot
// start fails.
func TestMain(m *testing.M) {
	code := m.Run()
	s3test.StopShared()
	os.Exit(code)
}

var (
	prefixes   atomic.Int64
	bucket     string
	bucketErr  error
	bucketOnce sync.Once
)

// server returns the package's S3 server.
func server(t *testing.T) *s3test.Server {
	t.Helper()
	srv, err := s3test.Shared()
	if err != nil {
		t.Fatalf("the S3 test server: %v", err)
	}
	return srv
}

// testBucket is the package's one bucket, made on the first call. Tests
// share it, each under prefixes of its own: SeaweedFS gives every bucket
// volumes of its own, sized so that a disk with less than 30 GB free
// per bucket has none left for a third, and its writes fail.
func testBucket(t *testing.T) string {
	t.Helper()
	srv := server(t)
	bucketOnce.Do(func() {
		bucket = fmt.Sprintf("ty-%d", os.Getpid())
		bucketErr = srv.NewBucket(ctx, bucket)
	})
	if bucketErr != nil {
		t.Fatal(bucketErr)
	}
	return bucket
}

// open opens a store on a fresh prefix of the test bucket.
func open(t *testing.T, tune func(*Config)) *Artifacts {
	t.Helper()
	srv := server(t)
	cfg := Config{
		Bucket: testBucket(t), Prefix: fmt.Sprintf("t%d/artifacts/", prefixes.Add(1)),
		Endpoint: srv.Endpoint, Region: srv.Region, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	}
	if tune != nil {
		tune(&cfg)
	}
	a, err := Open(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestConformance(t *testing.T) {
	artifacttest.Run(t, func(t *testing.T) (trainyard.ArtifactStore, string) {
		return open(t, nil), "run1"
	})
}

func TestParseURI(t *testing.T) {
	for _, tc := range []struct {
		uri, bucket, prefix string
		bad                 bool
	}{
		{"s3://bucket", "bucket", "", false},
		{"s3://bucket/", "bucket", "", false},
		{"s3://bucket/a/b", "bucket", "a/b/", false},
		{"s3://bucket/a/b/", "bucket", "a/b/", false},
		{"s3://", "", "", true},
		{"s3:///x", "", "", true},
		{"gs://bucket", "", "", true},
		{"/tmp/x", "", "", true},
		{"s3://b/a//b", "", "", true},
		{"s3://b/a/../b", "", "", true},
		{"s3://b/x?versionId=1", "", "", true},
	} {
		b, p, err := ParseURI(tc.uri)
		if (err != nil) != tc.bad || b != tc.bucket || p != tc.prefix {
			t.Errorf("ParseURI(%q) = %q, %q, %v; want %q, %q, bad=%v", tc.uri, b, p, err, tc.bucket, tc.prefix, tc.bad)
		}
	}
}

func TestFromEnv(t *testing.T) {
	env := map[string]string{
		"AWS_ENDPOINT_URL": "http://127.0.0.1:9000/", "AWS_REGION": "eu-west-1",
		"AWS_ACCESS_KEY_ID": "AK", "AWS_SECRET_ACCESS_KEY": "SK", "AWS_SESSION_TOKEN": "TOK",
	}
	c, err := FromEnv("s3://models/team-a", func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := Config{Bucket: "models", Prefix: "team-a/", Endpoint: "http://127.0.0.1:9000", Region: "eu-west-1", AccessKey: "AK", SecretKey: "SK", SessionToken: "TOK"}
	if c != want {
		t.Errorf("FromEnv = %+v; want %+v", c, want)
	}
	// The S3-specific endpoint wins, AWS_DEFAULT_REGION stands in.
	env = map[string]string{"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "https://b:2", "AWS_DEFAULT_REGION": "us-west-2"}
	c, err = FromEnv("s3://models", func(k string) string { return env[k] })
	if err != nil || c.Endpoint != "https://b:2" || c.Region != "us-west-2" {
		t.Errorf("FromEnv = %+v, %v", c, err)
	}
	// Every problem at once, each named.
	env = map[string]string{"AWS_ENDPOINT_URL": "ftp://x", "AWS_ACCESS_KEY_ID": "only"}
	_, err = FromEnv("s3://B_ad", func(k string) string { return env[k] })
	for _, want := range []string{"bucket \"B_ad\"", "endpoint \"ftp://x\"", "AWS_SECRET_ACCESS_KEY"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("FromEnv with bad values: %v; want it to name %s", err, want)
		}
	}
}

func TestPartSize(t *testing.T) {
	const base = 8 << 20
	for _, tc := range []struct {
		part int
		want int64
	}{{1, base}, {2000, base}, {2001, 2 * base}, {4000, 2 * base}, {4001, 4 * base}, {10000, 16 * base}} {
		if got := partSize(base, tc.part); got != tc.want {
			t.Errorf("partSize(%d) = %d; want %d", tc.part, got, tc.want)
		}
	}
	var total int64
	for i := 1; i <= maxParts; i++ {
		total += partSize(base, i)
	}
	if total < 400<<30 {
		t.Errorf("10,000 parts hold %d GiB; want at least 400", total>>30)
	}
}

// The buffers of all uploads together stay within MaxBuffered: a get
// waits until a buffer is given back.
func TestBufferPoolBound(t *testing.T) {
	b := &bufferPool{sem: semaphore.NewWeighted(3 << 20), max: 3 << 20}
	x, _ := b.get(ctx, 1<<20)
	y, _ := b.get(ctx, 2<<20)
	tctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := b.get(tctx, 1<<20); err == nil {
		t.Fatal("a get past the bound did not wait")
	}
	b.put(x)
	z, err := b.get(ctx, 1<<20)
	if err != nil || len(*z) != 1<<20 {
		t.Fatalf("get after a put: %v", err)
	}
	b.put(y)
	b.put(z)
}

// A multipart upload that fails leaves no upload behind in the bucket
// (its parts would cost storage and never show).
func TestFailedUploadIsAborted(t *testing.T) {
	a := open(t, nil)
	_, err := a.PutArtifact(ctx, "run1", "big.bin", io.MultiReader(&zeros{n: 30 << 20}, &errReader{}))
	if err == nil {
		t.Fatal("a put whose reader failed succeeded")
	}
	res, err := a.core.ListMultipartUploads(ctx, a.cfg.Bucket, a.cfg.Prefix, "", "", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Uploads) != 0 {
		t.Fatalf("%d multipart uploads left after a failed put: %+v", len(res.Uploads), res.Uploads)
	}
}

type zeros struct{ n int }

func (z *zeros) Read(p []byte) (int, error) {
	if z.n == 0 {
		return 0, io.EOF
	}
	k := min(len(p), z.n)
	clear(p[:k])
	z.n -= k
	return k, nil
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, fmt.Errorf("the client went away") }

// What trainyard writes is checked when it is read whole: bytes that do
// not match the MD5 (one PUT) or the multipart ETag (parts) stored with
// them fail the read, and the last bytes are withheld.
func TestChecksumMismatchFailsTheRead(t *testing.T) {
	a := open(t, nil)
	// One PUT whose stored MD5 is not its content's.
	body := []byte("the real bytes")
	wrong := md5.Sum([]byte("other bytes"))
	if _, err := a.client.PutObject(ctx, a.cfg.Bucket, a.key("run1", "one.bin"), bytes.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{UserMetadata: map[string]string{metaMD5: hex.EncodeToString(wrong[:])}}); err != nil {
		t.Fatal(err)
	}
	checkFails(t, a, "one.bin", len(body))
	// The same, large enough to be hashed on a goroutine of its own.
	big := bytes.Repeat([]byte("real"), hashAsync/4+1)
	if _, err := a.client.PutObject(ctx, a.cfg.Bucket, a.key("run1", "big.bin"), bytes.NewReader(big), int64(len(big)),
		minio.PutObjectOptions{UserMetadata: map[string]string{metaMD5: hex.EncodeToString(wrong[:])}, PartSize: 64 << 20}); err != nil {
		t.Fatal(err)
	}
	checkFails(t, a, "big.bin", len(big))

	// A multipart object whose stored part size is not the one it was sent
	// with: its parts' MD5s, recomputed on the wrong boundaries, do not
	// make its ETag.
	key := a.key("run1", "parts.bin")
	id, err := a.core.NewMultipartUpload(ctx, a.cfg.Bucket, key, minio.PutObjectOptions{UserMetadata: map[string]string{metaPartSize: fmt.Sprint(6 << 20)}})
	if err != nil {
		t.Fatal(err)
	}
	var parts []minio.CompletePart
	for i, size := range []int{5 << 20, 5 << 20, 1000} {
		data := bytes.Repeat([]byte{byte('a' + i)}, size)
		p, err := a.core.PutObjectPart(ctx, a.cfg.Bucket, key, id, i+1, bytes.NewReader(data), int64(size), minio.PutObjectPartOptions{})
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, minio.CompletePart{PartNumber: i + 1, ETag: p.ETag})
	}
	if _, err := a.core.CompleteMultipartUpload(ctx, a.cfg.Bucket, key, id, parts, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	checkFails(t, a, "parts.bin", 10<<20+1000)

	// What trainyard itself wrote reads back clean, one PUT and parts.
	for _, size := range []int{1000, 3*DefaultPartSize + 77} {
		if _, err := a.PutArtifact(ctx, "run1", "ok.bin", &zeros{n: size}); err != nil {
			t.Fatal(err)
		}
		f, _, err := a.OpenArtifact(ctx, "run1", "ok.bin")
		if err != nil {
			t.Fatal(err)
		}
		// The server keeps the CRC32Cs trainyard sends: reads check those,
		// in line.
		if c := f.(*reader).check; c == nil || c.kind != sumCRC32C {
			t.Errorf("a %d-byte file trainyard wrote: checker %+v; want its CRC32C", size, c)
		}
		if f.(*reader).hash != nil {
			t.Errorf("a %d-byte file with a CRC32C hashed on a goroutine", size)
		}
		n, err := io.Copy(io.Discard, f)
		f.Close()
		if err != nil || n != int64(size) {
			t.Errorf("read %d of %d bytes: %v", n, size, err)
		}
	}
}

func checkFails(t *testing.T, a *Artifacts, p string, size int) {
	t.Helper()
	f, _, err := a.OpenArtifact(ctx, "run1", p)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n, err := io.Copy(io.Discard, f)
	if err == nil || !strings.Contains(err.Error(), "does not match its checksum") {
		t.Errorf("reading %s with a wrong checksum: %d bytes, %v; want a checksum error", p, n, err)
	}
	if n >= int64(size) {
		t.Errorf("reading %s with a wrong checksum gave all %d bytes; want the last withheld", p, n)
	}
	if _, err := f.Read(make([]byte, 10)); err == nil {
		t.Errorf("a read after the checksum failed succeeded")
	}
}

// A reader keeps to the version it opened: after the file is replaced, a
// read that needs another GET fails with ECONFLICT instead of mixing the
// two versions.
func TestReaderKeepsItsVersion(t *testing.T) {
	a := open(t, nil)
	v1 := bytes.Repeat([]byte("1"), 1<<20)
	if _, err := a.PutArtifact(ctx, "run1", "m.bin", bytes.NewReader(v1)); err != nil {
		t.Fatal(err)
	}
	f, _, err := a.OpenArtifact(ctx, "run1", "m.bin")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := io.ReadFull(f, make([]byte, 100)); err != nil {
		t.Fatal(err)
	}
	if _, err := a.PutArtifact(ctx, "run1", "m.bin", strings.NewReader("version 2")); err != nil {
		t.Fatal(err)
	}
	f.Seek(500<<10, io.SeekStart)
	_, err = f.Read(make([]byte, 100))
	if trainyard.ErrorCode(err) != trainyard.ECONFLICT {
		t.Fatalf("a ranged read after the file was replaced: %v; want conflict", err)
	}
}

// Open refuses a missing bucket and wrong credentials, saying which.
func TestOpenChecksTheBucket(t *testing.T) {
	srv := server(t)
	cfg := Config{Bucket: "no-such-bucket-here", Endpoint: srv.Endpoint, Region: srv.Region, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey}
	if _, err := Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("open a missing bucket: %v", err)
	}
	cfg.Bucket, cfg.SecretKey = testBucket(t), "wrong"
	if _, err := Open(ctx, cfg); err == nil || !strings.Contains(err.Error(), cfg.Bucket) {
		t.Errorf("open with a wrong secret: %v", err)
	}
}

// A client uploads parts to presigned URLs itself, as MLflow's does, and
// downloads ranges from a presigned URL.
func TestDirectTransfers(t *testing.T) {
	a := open(t, nil)
	sizes := []int{5 << 20, 5 << 20, 12345}
	up, err := a.CreateUpload(ctx, "run1", "model/weights.bin", len(sizes))
	if err != nil {
		t.Fatal(err)
	}
	if len(up.Parts) != 3 || up.ID == "" {
		t.Fatalf("upload %+v", up)
	}
	var all []byte
	var parts []trainyard.UploadedPart
	for i, pu := range up.Parts {
		data := bytes.Repeat([]byte{byte('a' + i)}, sizes[i])
		all = append(all, data...)
		req, _ := http.NewRequest("PUT", pu.URL, bytes.NewReader(data))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("PUT part %d to its presigned URL: %s %s", pu.Number, resp.Status, b)
		}
		parts = append(parts, trainyard.UploadedPart{Number: pu.Number, ETag: resp.Header.Get("ETag")})
	}
	if list, _ := a.ListArtifacts(ctx, "run1", "", true); len(list) != 0 {
		t.Fatalf("an unfinished upload is listed: %+v", list)
	}
	// A wrong ETag is refused, and the upload can still complete.
	bad := append([]trainyard.UploadedPart{}, parts...)
	bad[1].ETag = `"00000000000000000000000000000000"`
	if _, err := a.CompleteUpload(ctx, "run1", "model/weights.bin", up.ID, bad); trainyard.ErrorCode(err) != trainyard.EINVALID {
		t.Errorf("complete with a wrong part ETag: %v; want invalid", err)
	}
	info, err := a.CompleteUpload(ctx, "run1", "model/weights.bin", up.ID, parts)
	if err != nil {
		t.Fatal(err)
	}
	if info.Size != int64(len(all)) {
		t.Errorf("completed upload has size %d; want %d", info.Size, len(all))
	}
	f, _, err := a.OpenArtifact(ctx, "run1", "model/weights.bin")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(f)
	f.Close()
	if !bytes.Equal(got, all) {
		t.Fatalf("the uploaded file reads back %d bytes, different", len(got))
	}

	dl, err := a.DownloadURL(ctx, "run1", "model/weights.bin")
	if err != nil {
		t.Fatal(err)
	}
	if dl.Size != int64(len(all)) {
		t.Errorf("download size %d", dl.Size)
	}
	req, _ := http.NewRequest("GET", dl.URL, nil)
	req.Header.Set("Range", "bytes=5242870-5242889")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || !bytes.Equal(b, all[5242870:5242890]) {
		t.Errorf("ranged GET of the presigned URL: %s %q", resp.Status, b)
	}
	if _, err := a.DownloadURL(ctx, "run1", "nothing"); trainyard.ErrorCode(err) != trainyard.ENOTFOUND {
		t.Errorf("download URL of a missing file: %v", err)
	}

	// An aborted upload leaves nothing; aborting again is not found.
	up, err = a.CreateUpload(ctx, "run1", "other.bin", 2)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AbortUpload(ctx, "run1", "other.bin", up.ID); err != nil {
		t.Fatal(err)
	}
	if err := a.AbortUpload(ctx, "run1", "other.bin", up.ID); trainyard.ErrorCode(err) != trainyard.ENOTFOUND {
		t.Errorf("abort twice: %v; want not found", err)
	}
	if _, err := a.CreateUpload(ctx, "run1", "x", 0); trainyard.ErrorCode(err) != trainyard.EINVALID {
		t.Errorf("0 parts: %v", err)
	}
	if _, err := a.CreateUpload(ctx, "run1", "model", 1); trainyard.ErrorCode(err) != trainyard.ECONFLICT {
		t.Errorf("upload over a directory: %v", err)
	}
}

// Uploads a killed server left unfinished are aborted once old enough;
// younger ones, perhaps another server's in progress, are kept.
func TestAbortStaleUploads(t *testing.T) {
	a := open(t, nil)
	if _, err := a.core.NewMultipartUpload(ctx, a.cfg.Bucket, a.key("run1", "left.bin"), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if n, err := a.AbortStaleUploads(ctx, time.Hour, nil); err != nil || n != 0 {
		t.Fatalf("aborted %d young uploads: %v", n, err)
	}
	a.now = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if n, err := a.AbortStaleUploads(ctx, time.Hour, nil); err != nil || n != 1 {
		t.Fatalf("aborted %d stale uploads: %v; want 1", n, err)
	}
	res, _ := a.core.ListMultipartUploads(ctx, a.cfg.Bucket, a.cfg.Prefix, "", "", "", 1000)
	if len(res.Uploads) != 0 {
		t.Fatalf("uploads left: %+v", res.Uploads)
	}
}

// A byte changed on its way from the store (the network, the store's
// disk) fails the read at its end, withholding the last bytes, whatever
// the object is checked by: its CRC32C, whole or composite, or the MD5s
// of a store that keeps no CRC32C.
func TestCorruptionInTransitFailsTheRead(t *testing.T) {
	a := open(t, nil)
	sizes := map[string]int{"one.bin": 1000, "parts.bin": 2*DefaultPartSize + 77, "md5.bin": hashAsync + 5}
	for _, p := range []string{"one.bin", "parts.bin"} {
		if _, err := a.PutArtifact(ctx, "run1", p, &zeros{n: sizes[p]}); err != nil {
			t.Fatal(err)
		}
	}
	// One PUT without a CRC32C, as to a store that keeps none.
	data := bytes.Repeat([]byte("md5!"), sizes["md5.bin"]/4+1)[:sizes["md5.bin"]]
	sum := md5.Sum(data)
	if _, err := a.core.PutObject(ctx, a.cfg.Bucket, a.key("run1", "md5.bin"), bytes.NewReader(data), int64(len(data)), "", "",
		minio.PutObjectOptions{UserMetadata: map[string]string{metaMD5: hex.EncodeToString(sum[:])}}); err != nil {
		t.Fatal(err)
	}
	bad := corrupted(t, a)
	for _, tc := range []struct {
		path string
		kind sumKind
	}{{"one.bin", sumCRC32C}, {"parts.bin", sumCRC32C}, {"md5.bin", sumMD5}} {
		f, _, err := a.OpenArtifact(ctx, "run1", tc.path)
		if err != nil {
			t.Fatal(err)
		}
		if c := f.(*reader).check; c == nil || c.kind != tc.kind {
			t.Errorf("%s: checker %+v; want kind %d", tc.path, c, tc.kind)
		}
		n, err := io.Copy(io.Discard, f)
		f.Close()
		if err != nil || n != int64(sizes[tc.path]) {
			t.Errorf("%s, as stored: read %d of %d bytes: %v", tc.path, n, sizes[tc.path], err)
		}
		checkFails(t, bad, tc.path, sizes[tc.path])
	}
}

// corrupted is a copy of a whose GETs of whole objects answer with one
// byte changed halfway.
func corrupted(t *testing.T, a *Artifacts) *Artifacts {
	t.Helper()
	srv := server(t)
	tr, err := minio.DefaultTransport(false)
	if err != nil {
		t.Fatal(err)
	}
	c, err := minio.New(strings.TrimPrefix(srv.Endpoint, "http://"), &minio.Options{
		Creds: credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""), Region: srv.Region,
		BucketLookup: minio.BucketLookupPath, Transport: flipper{tr},
	})
	if err != nil {
		t.Fatal(err)
	}
	b := *a
	b.client, b.core = c, minio.Core{Client: c}
	return &b
}

type flipper struct{ http.RoundTripper }

func (f flipper) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := f.RoundTripper.RoundTrip(r)
	if err == nil && r.Method == http.MethodGet && r.URL.RawQuery == "" && r.Header.Get("Range") == "" &&
		resp.StatusCode == http.StatusOK && resp.ContentLength > 0 {
		resp.Body = &flipBody{ReadCloser: resp.Body, at: resp.ContentLength / 2}
	}
	return resp, err
}

// flipBody inverts the byte at offset at.
type flipBody struct {
	io.ReadCloser
	off, at int64
}

func (b *flipBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if i := b.at - b.off; i >= 0 && i < int64(n) {
		p[i] ^= 0xff
	}
	b.off += int64(n)
	return n, err
}

// A CRC32C is S3's: base64 of the big-endian CRC-32C (Castagnoli), whose
// check value for "123456789" is 0xE3069283.
func TestCRC32CForm(t *testing.T) {
	if got, want := crc32cOf([]byte("123456789")), base64.StdEncoding.EncodeToString([]byte{0xe3, 0x06, 0x92, 0x83}); got != want {
		t.Errorf("crc32cOf(123456789) = %s, want %s", got, want)
	}
}

// newChecker picks the cheapest check what is stored allows, and none
// when nothing is.
func TestNewChecker(t *testing.T) {
	const (
		crc  = "4waSgw=="
		md   = "0123456789abcdef0123456789abcdef"
		etag = "0123456789abcdef0123456789abcdef-3"
	)
	for _, tc := range []struct {
		name string
		etag string
		h    map[string]string
		kind sumKind // when want is set
		want string
		base int64
	}{
		{"one PUT with a CRC32C", md, map[string]string{hdrCRC32C: crc, "X-Amz-Meta-" + metaMD5: md}, sumCRC32C, crc, 0},
		{"full-object CRC32C of parts", etag, map[string]string{hdrCRC32C: crc, hdrChecksumType: "FULL_OBJECT"}, sumCRC32C, crc, 0},
		{"composite CRC32C of trainyard's parts", etag, map[string]string{hdrCRC32C: crc + "-3", "X-Amz-Meta-" + metaPartSize: "8388608"}, sumCRC32C, crc + "-3", 8 << 20},
		{"composite CRC32C without its count", etag, map[string]string{hdrCRC32C: crc, hdrChecksumType: "COMPOSITE", "X-Amz-Meta-" + metaPartSize: "8388608"}, sumCRC32C, crc, 8 << 20},
		{"composite CRC32C of others' parts", etag, map[string]string{hdrCRC32C: crc + "-3"}, 0, "", 0},
		{"a malformed CRC32C: the MD5", md, map[string]string{hdrCRC32C: "nope", "X-Amz-Meta-" + metaMD5: md}, sumMD5, md, 0},
		{"one PUT, MD5 only", md, map[string]string{"X-Amz-Meta-" + metaMD5: md}, sumMD5, md, 0},
		{"parts, ETag only", etag, map[string]string{"X-Amz-Meta-" + metaPartSize: "8388608"}, sumMD5, etag, 8 << 20},
		{"nothing stored", md, nil, 0, "", 0},
	} {
		h := http.Header{}
		for k, v := range tc.h {
			h.Set(k, v)
		}
		c := newChecker(tc.etag, h)
		switch {
		case tc.want == "" && c != nil:
			t.Errorf("%s: checker %+v; want none", tc.name, c)
		case tc.want == "":
		case c == nil:
			t.Errorf("%s: no checker; want %s", tc.name, tc.want)
		case c.kind != tc.kind || c.want != tc.want || c.base != tc.base:
			t.Errorf("%s: checker kind %d, want %q, base %d; want %d, %q, %d", tc.name, c.kind, c.want, c.base, tc.kind, tc.want, tc.base)
		}
	}
}

// What a read's check costs a core: MD5 (stores without CRC32C) against
// CRC32C.
//
//	go test -run '^$' -bench Checker ./s3
func BenchmarkChecker(b *testing.B) {
	buf := make([]byte, 1<<20)
	for _, kind := range []sumKind{sumMD5, sumCRC32C} {
		name := map[sumKind]string{sumMD5: "MD5", sumCRC32C: "CRC32C"}[kind]
		b.Run(name, func(b *testing.B) {
			c := newChecker("", http.Header{"X-Amz-Meta-" + metaMD5: {"0123456789abcdef0123456789abcdef"}})
			if kind == sumCRC32C {
				c = newChecker("", http.Header{hdrCRC32C: {"4waSgw=="}})
			}
			b.SetBytes(int64(len(buf)))
			for i := 0; b.Loop(); i++ {
				c.write(int64(i*len(buf)), buf)
			}
		})
	}
}
