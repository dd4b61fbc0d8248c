package client

import (
	"context"
	"net/url"
	"strconv"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/sweep"
)

// CreateSweep creates a sweep from a spec in JSON (or YAML: JSON is
// YAML); file names the spec in the server's error messages.
func (c *Client) CreateSweep(ctx context.Context, file string, spec []byte) (*sweep.View, error) {
	var v sweep.View
	path := "/api/v1/sweeps"
	if file != "" {
		path += "?file=" + url.QueryEscape(file)
	}
	return &v, c.Do(ctx, "POST", path, spec, &v)
}

// Sweep returns a sweep with its trials.
func (c *Client) Sweep(ctx context.Context, id string) (*sweep.View, error) {
	var v sweep.View
	return &v, c.Do(ctx, "GET", "/api/v1/sweeps/"+url.PathEscape(id), nil, &v)
}

// Sweeps lists sweeps with their trial counts.
func (c *Client) Sweeps(ctx context.Context, f trainyard.SweepFilter) ([]*sweep.View, error) {
	q := url.Values{}
	if f.Active {
		q.Set("active", "true")
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
	var out struct{ Sweeps []*sweep.View }
	return out.Sweeps, c.Do(ctx, "GET", "/api/v1/sweeps?"+q.Encode(), nil, &out)
}

// ControlSweep pauses, resumes or stops a sweep (action "pause",
// "resume" or "stop").
func (c *Client) ControlSweep(ctx context.Context, id, action string) (*sweep.View, error) {
	var v sweep.View
	return &v, c.Do(ctx, "POST", "/api/v1/sweeps/"+url.PathEscape(id)+"/"+action, nil, &v)
}

// Suggest asks a sweep for trials to run (ask/tell).
func (c *Client) Suggest(ctx context.Context, id string, req sweep.SuggestRequest) (*sweep.Suggestion, error) {
	var out sweep.Suggestion
	return &out, c.Do(ctx, "POST", "/api/v1/sweeps/"+url.PathEscape(id)+"/suggest", req, &out)
}

// ReportTrial reports a trial's results (and, for one the caller runs, its
// end); the answer's trial carries the searcher's directive.
func (c *Client) ReportTrial(ctx context.Context, id string, req sweep.ReportRequest) (*trainyard.Trial, error) {
	var out struct{ Trial *trainyard.Trial }
	return out.Trial, c.Do(ctx, "POST", "/api/v1/sweeps/"+url.PathEscape(id)+"/report", req, &out)
}
