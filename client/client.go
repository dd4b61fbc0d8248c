// Package client is a Go client of trainyard's HTTP API, used by the CLI,
// the end-to-end tests and the benchmarks.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
)

// DefaultURL is where the CLI looks for the server when TRAINYARD_URL is
// unset.
const DefaultURL = "http://127.0.0.1:8080"

// Client talks to one trainyard server.
type Client struct {
	URL   string
	Token string
	HTTP  *http.Client
}

// FromEnv returns a client for TRAINYARD_URL (default DefaultURL) with
// TRAINYARD_TOKEN.
func FromEnv() *Client {
	u := os.Getenv("TRAINYARD_URL")
	if u == "" {
		u = DefaultURL
	}
	return New(u, os.Getenv("TRAINYARD_TOKEN"))
}

// New returns a client for the server at baseURL.
func New(baseURL, token string) *Client {
	return &Client{URL: strings.TrimRight(baseURL, "/"), Token: token, HTTP: &http.Client{}}
}

// Error is an error answered by the server.
type Error struct {
	Status  int
	Code    string
	Message string
	Field   string
}

func (e *Error) Error() string { return e.Message }

// Do sends a request and decodes a JSON answer into out (unless nil).
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	ct := ""
	switch v := in.(type) {
	case nil:
	case io.Reader:
		body, ct = v, "application/octet-stream"
	case []byte:
		body, ct = bytes.NewReader(v), "application/json"
	default:
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode request: %w", err)
		}
		body, ct = bytes.NewReader(b), "application/json"
	}
	resp, err := c.send(ctx, method, path, body, ct)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if out == nil {
		io.Copy(io.Discard, resp.Body)
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("decode answer of %s %s: %w", method, path, err)
	}
	return nil
}

// send sends a request and returns the response when its status is 2xx;
// otherwise the server's error.
func (c *Client) send(ctx context.Context, method, path string, body io.Reader, contentType string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, body)
	if err != nil {
		return nil, err
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach trainyard at %s (is `trainyard up` running? set TRAINYARD_URL): %w", c.URL, err)
	}
	if resp.StatusCode/100 == 2 {
		return resp, nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	var eb struct {
		Error struct{ Code, Message, Field string } `json:"error"`
	}
	if json.Unmarshal(b, &eb) == nil && eb.Error.Message != "" {
		return nil, &Error{Status: resp.StatusCode, Code: eb.Error.Code, Message: eb.Error.Message, Field: eb.Error.Field}
	}
	return nil, &Error{Status: resp.StatusCode, Code: "http", Message: fmt.Sprintf("%s %s: %s: %s", method, path, resp.Status, strings.TrimSpace(string(b)))}
}

// Submit queues a job.
func (c *Client) Submit(ctx context.Context, spec trainyard.JobSpec) (*trainyard.Job, error) {
	var j trainyard.Job
	return &j, c.Do(ctx, "POST", "/api/v1/jobs", spec, &j)
}

// Job returns one job.
func (c *Client) Job(ctx context.Context, id string) (*trainyard.Job, error) {
	var j trainyard.Job
	return &j, c.Do(ctx, "GET", "/api/v1/jobs/"+url.PathEscape(id), nil, &j)
}

// Jobs lists jobs.
func (c *Client) Jobs(ctx context.Context, f trainyard.JobFilter) ([]*trainyard.Job, error) {
	q := url.Values{}
	if f.Active {
		q.Set("active", "true")
	}
	if f.State != "" {
		q.Set("state", string(f.State))
	}
	if f.Project != "" {
		q.Set("project", f.Project)
	}
	if f.IDPrefix != "" {
		q.Set("id_prefix", f.IDPrefix)
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	var out struct{ Jobs []*trainyard.Job }
	return out.Jobs, c.Do(ctx, "GET", "/api/v1/jobs?"+q.Encode(), nil, &out)
}

// Cancel cancels a job.
func (c *Client) Cancel(ctx context.Context, id string) (*trainyard.Job, error) {
	var j trainyard.Job
	return &j, c.Do(ctx, "POST", "/api/v1/jobs/"+url.PathEscape(id)+"/cancel", nil, &j)
}

// CancelMany cancels several jobs in one request: all of them, or none when
// an ID is unknown.
func (c *Client) CancelMany(ctx context.Context, ids []string) ([]*trainyard.Job, error) {
	var out struct{ Jobs []*trainyard.Job }
	err := c.Do(ctx, "POST", "/api/v1/jobs/cancel", map[string][]string{"ids": ids}, &out)
	return out.Jobs, err
}

// Health is what /api/v1/health answers: {"status": "ok", "version": ...}.
func (c *Client) Health(ctx context.Context) (map[string]string, error) {
	var h map[string]string
	return h, c.Do(ctx, "GET", "/api/v1/health", nil, &h)
}

// Machine describes the server's machine.
func (c *Client) Machine(ctx context.Context) (*trainyard.Machine, error) {
	var m trainyard.Machine
	return &m, c.Do(ctx, "GET", "/api/v1/machine", nil, &m)
}

// Executor describes where jobs run: the executor's kind, its nodes and
// how it enforces limits.
func (c *Client) Executor(ctx context.Context) (*trainyard.ExecutorInfo, error) {
	var info trainyard.ExecutorInfo
	return &info, c.Do(ctx, "GET", "/api/v1/executor", nil, &info)
}

// Run returns one run.
func (c *Client) Run(ctx context.Context, id string) (*trainyard.Run, error) {
	var r trainyard.Run
	return &r, c.Do(ctx, "GET", "/api/v1/runs/"+url.PathEscape(id), nil, &r)
}

// Runs lists runs.
func (c *Client) Runs(ctx context.Context, f trainyard.RunFilter) ([]*trainyard.Run, error) {
	return c.SearchRuns(ctx, RunQuery{RunFilter: f})
}

// RunQuery selects runs: a RunFilter, plus the API's search grammar
// (Filter, e.g. "metrics.loss < 0.5 AND params.lr = '0.01'"), order (OrderBy,
// e.g. "metrics.loss ASC") and an ID prefix.
type RunQuery struct {
	trainyard.RunFilter
	Filter   string
	OrderBy  []string
	IDPrefix string
}

// SearchRuns lists the runs q selects.
func (c *Client) SearchRuns(ctx context.Context, f RunQuery) ([]*trainyard.Run, error) {
	q := url.Values{}
	if f.Project != "" {
		q.Set("project", f.Project)
	}
	if f.State != "" {
		q.Set("state", string(f.State))
	}
	if f.Limit > 0 {
		q.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset > 0 {
		q.Set("offset", strconv.Itoa(f.Offset))
	}
	if f.Filter != "" {
		q.Set("filter", f.Filter)
	}
	for _, o := range f.OrderBy {
		q.Add("order_by", o)
	}
	if f.IDPrefix != "" {
		q.Set("id_prefix", f.IDPrefix)
	}
	var out struct{ Runs []*trainyard.Run }
	return out.Runs, c.Do(ctx, "GET", "/api/v1/runs?"+q.Encode(), nil, &out)
}

// CreateRun creates a standalone run.
func (c *Client) CreateRun(ctx context.Context, n trainyard.NewRun) (*trainyard.Run, error) {
	var r trainyard.Run
	return &r, c.Do(ctx, "POST", "/api/v1/runs", n, &r)
}

// UpdateRun changes a run.
func (c *Client) UpdateRun(ctx context.Context, id string, u trainyard.RunUpdate) (*trainyard.Run, error) {
	var r trainyard.Run
	return &r, c.Do(ctx, "PATCH", "/api/v1/runs/"+url.PathEscape(id), u, &r)
}

// AppendMetrics sends a metric batch body as is (see the OpenAPI
// document's MetricBatch).
func (c *Client) AppendMetrics(ctx context.Context, runID string, body []byte) (int, error) {
	var out struct{ Accepted int }
	err := c.Do(ctx, "POST", "/api/v1/runs/"+url.PathEscape(runID)+"/metrics", body, &out)
	return out.Accepted, err
}

// SeriesJSON is a series as the API answers it.
type SeriesJSON struct {
	Key         string            `json:"key"`
	Total       int64             `json:"total"`
	Downsampled bool              `json:"downsampled"`
	Steps       []int64           `json:"steps"`
	Values      []trainyard.Float `json:"values"`
	Timestamps  []int64           `json:"timestamps"`
	Min         []trainyard.Float `json:"min"`
	Max         []trainyard.Float `json:"max"`
}

// Metric reads one series; q holds the query parameters (max_points, ...).
func (c *Client) Metric(ctx context.Context, runID, key string, q url.Values) (*SeriesJSON, error) {
	var s SeriesJSON
	return &s, c.Do(ctx, "GET", "/api/v1/runs/"+url.PathEscape(runID)+"/metrics/"+escapeKey(key)+"?"+q.Encode(), nil, &s)
}

func escapeKey(k string) string {
	parts := strings.Split(k, "/")
	for i, p := range parts {
		parts[i] = url.PathEscape(p)
	}
	return strings.Join(parts, "/")
}

// Logs opens a run's log from offset; with follow it streams until the run
// ends. The caller closes the body.
func (c *Client) Logs(ctx context.Context, runID string, offset int64, follow bool) (io.ReadCloser, error) {
	return c.RankLogs(ctx, runID, -1, offset, follow)
}

// RankLogs is Logs for one rank's own output; a negative rank is the
// whole log.
func (c *Client) RankLogs(ctx context.Context, runID string, rank int, offset int64, follow bool) (io.ReadCloser, error) {
	q := url.Values{"offset": {strconv.FormatInt(offset, 10)}}
	if follow {
		q.Set("follow", "true")
	}
	if rank >= 0 {
		q.Set("rank", strconv.Itoa(rank))
	}
	resp, err := c.send(ctx, "GET", "/api/v1/runs/"+url.PathEscape(runID)+"/logs?"+q.Encode(), nil, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// AppendLog adds text to a run's log.
func (c *Client) AppendLog(ctx context.Context, runID string, text []byte) error {
	return c.Do(ctx, "POST", "/api/v1/runs/"+url.PathEscape(runID)+"/logs", bytes.NewReader(text), nil)
}

// PutArtifact uploads r as the run's artifact at path.
func (c *Client) PutArtifact(ctx context.Context, runID, path string, r io.Reader) (*trainyard.ArtifactInfo, error) {
	var info trainyard.ArtifactInfo
	return &info, c.Do(ctx, "PUT", "/api/v1/runs/"+url.PathEscape(runID)+"/artifacts/"+escapeKey(path), r, &info)
}

// Artifacts lists a run's artifacts.
func (c *Client) Artifacts(ctx context.Context, runID, dir string, recursive bool) ([]trainyard.ArtifactInfo, error) {
	q := url.Values{"path": {dir}}
	if recursive {
		q.Set("recursive", "true")
	}
	var out struct{ Artifacts []trainyard.ArtifactInfo }
	return out.Artifacts, c.Do(ctx, "GET", "/api/v1/runs/"+url.PathEscape(runID)+"/artifacts?"+q.Encode(), nil, &out)
}

// Artifact downloads one artifact; the caller closes it.
func (c *Client) Artifact(ctx context.Context, runID, path string) (io.ReadCloser, error) {
	resp, err := c.send(ctx, "GET", "/api/v1/runs/"+url.PathEscape(runID)+"/artifacts/"+escapeKey(path), nil, "")
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}

// WaitReady polls /api/v1/health until the server answers or timeout.
func (c *Client) WaitReady(ctx context.Context, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		var h map[string]string
		if last = c.Do(ctx, "GET", "/api/v1/health", nil, &h); last == nil {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("server at %s not ready after %s: %w", c.URL, timeout, last)
}
