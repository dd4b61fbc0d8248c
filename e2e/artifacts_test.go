package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/artifacttest"
	"github.com/trainyard/trainyard/client"
)

// httpArtifacts is the ArtifactStore that a client sees through the API,
// so that the store's conformance suite runs end to end: reads stream,
// and a Seek costs a Range request, as a browser's or a resumed download's.
// The API takes only clean paths (it refuses "x//y" rather than guess), so
// a path the store would clean is cleaned here; any other goes as given,
// for the server to refuse. It answers a malformed run ID as an unknown
// run (404), so run IDs are checked here as a store checks them.
type httpArtifacts struct{ c *client.Client }

// apiErr turns the client's error into the domain's, by its code.
func apiErr(err error) error {
	var ce *client.Error
	if errors.As(err, &ce) {
		return &trainyard.Error{Code: ce.Code, Message: ce.Message, Field: ce.Field}
	}
	return err
}

func apiPath(p string) string {
	if c, err := trainyard.CleanArtifactPath(p); err == nil {
		return c
	}
	return p
}

func escape(p string) string {
	segs := strings.Split(p, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

func (h httpArtifacts) PutArtifact(ctx context.Context, run, path string, r io.Reader) (trainyard.ArtifactInfo, error) {
	if err := trainyard.ValidateID("run", run); err != nil {
		return trainyard.ArtifactInfo{}, err
	}
	info, err := h.c.PutArtifact(ctx, run, apiPath(path), r)
	if err != nil {
		return trainyard.ArtifactInfo{}, apiErr(err)
	}
	return *info, nil
}

func (h httpArtifacts) OpenArtifact(ctx context.Context, run, path string) (io.ReadSeekCloser, trainyard.ArtifactInfo, error) {
	if err := trainyard.ValidateID("run", run); err != nil {
		return nil, trainyard.ArtifactInfo{}, err
	}
	r := &rangeReader{ctx: ctx, c: h.c, url: h.c.URL + "/api/v1/runs/" + url.PathEscape(run) + "/artifacts/" + escape(apiPath(path))}
	if err := r.open(); err != nil {
		return nil, trainyard.ArtifactInfo{}, err
	}
	return r, trainyard.ArtifactInfo{Path: apiPath(path), Size: r.size, ModTime: r.mod}, nil
}

func (h httpArtifacts) ListArtifacts(ctx context.Context, run, dir string, recursive bool) ([]trainyard.ArtifactInfo, error) {
	list, err := h.c.Artifacts(ctx, run, apiPath(dir), recursive)
	return list, apiErr(err)
}

func (h httpArtifacts) DeleteArtifact(ctx context.Context, run, path string) error {
	return apiErr(h.c.Do(ctx, "DELETE", "/api/v1/runs/"+url.PathEscape(run)+"/artifacts/"+escape(apiPath(path)), nil, nil))
}

// rangeReader reads an artifact over HTTP: the first GET's body while reads
// follow on, a GET with a Range header after a Seek elsewhere.
type rangeReader struct {
	ctx       context.Context
	c         *client.Client
	url       string
	size, pos int64
	mod       time.Time
	body      io.ReadCloser
	bodyAt    int64
}

func (r *rangeReader) open() error {
	if r.body != nil {
		r.body.Close()
		r.body = nil
	}
	req, err := http.NewRequestWithContext(r.ctx, "GET", r.url, nil)
	if err != nil {
		return err
	}
	if r.pos > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", r.pos))
	}
	if r.c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.c.Token)
	}
	resp, err := r.c.HTTP.Do(req)
	if err != nil {
		return err
	}
	switch {
	case r.pos == 0 && resp.StatusCode == http.StatusOK:
		r.size = resp.ContentLength
		r.mod, _ = http.ParseTime(resp.Header.Get("Last-Modified"))
	case r.pos > 0 && resp.StatusCode == http.StatusPartialContent:
		_, total, _ := strings.Cut(resp.Header.Get("Content-Range"), "/")
		if n, err := strconv.ParseInt(total, 10, 64); err != nil || n != r.size {
			resp.Body.Close()
			return fmt.Errorf("GET %s from %d: Content-Range %q for a file of %d bytes", r.url, r.pos, resp.Header.Get("Content-Range"), r.size)
		}
	default:
		defer resp.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		var eb struct {
			Error struct{ Code, Message, Field string } `json:"error"`
		}
		if err := json.Unmarshal(b, &eb); err == nil && eb.Error.Code != "" {
			return &trainyard.Error{Code: eb.Error.Code, Message: eb.Error.Message, Field: eb.Error.Field}
		}
		return fmt.Errorf("GET %s from %d: %s %s", r.url, r.pos, resp.Status, b)
	}
	r.body, r.bodyAt = resp.Body, r.pos
	return nil
}

func (r *rangeReader) Read(p []byte) (int, error) {
	if r.pos >= r.size {
		return 0, io.EOF
	}
	if r.body == nil || r.bodyAt != r.pos {
		if err := r.open(); err != nil {
			return 0, err
		}
	}
	n, err := r.body.Read(p[:min(int64(len(p)), r.size-r.pos)])
	r.pos += int64(n)
	r.bodyAt += int64(n)
	if err == io.EOF && r.pos < r.size {
		return n, io.ErrUnexpectedEOF
	}
	if err == io.EOF {
		err = nil
	}
	return n, err
}

func (r *rangeReader) Seek(off int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		off += r.pos
	case io.SeekEnd:
		off += r.size
	}
	if off < 0 {
		return 0, fmt.Errorf("seek to %d", off)
	}
	r.pos = off
	return off, nil
}

func (r *rangeReader) Close() error {
	if r.body != nil {
		return r.body.Close()
	}
	return nil
}

// The whole artifact contract, through the API: concurrent uploads to one
// path with readers (each upload is whole, the last wins: issue 8's torn
// artifacts), ranged reads, trees, deletes, paths that try to escape.
func TestArtifactsThroughTheAPI(t *testing.T) {
	s := startServer(t)
	artifacttest.Run(t, func(t *testing.T) (trainyard.ArtifactStore, string) {
		run, err := s.C.CreateRun(context.Background(), trainyard.NewRun{Project: "artifacts"})
		if err != nil {
			t.Fatal(err)
		}
		return httpArtifacts{s.C}, run.ID
	})
}
