package cli

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/client"
)

// IDs may be typed short, as git and docker take them: a whole ID wins;
// otherwise a prefix that starts exactly one ID stands for it. The server
// resolves prefixes (the id_prefix parameter of the list endpoints), so the
// CLI never lists everything to find one.

// maxCandidates is how many matches an ambiguous prefix lists.
const maxCandidates = 10

// resolveJob returns the ID of the job that arg names or starts.
func (e *env) resolveJob(ctx context.Context, arg string) (*trainyard.Job, error) {
	j, err := e.client.Job(ctx, arg)
	if err == nil || !isNotFound(err) {
		return j, err
	}
	js, perr := e.client.Jobs(ctx, trainyard.JobFilter{IDPrefix: arg, Limit: maxCandidates + 1})
	if perr != nil {
		return nil, err // not an ID nor a prefix: the server's not-found says so
	}
	switch len(js) {
	case 0:
		return nil, &client.Error{Status: 404, Code: "not_found", Message: fmt.Sprintf("job %s not found (no job ID is or starts with %q)", arg, arg)}
	case 1:
		return js[0], nil
	}
	lines := make([]string, len(js))
	for i, j := range js {
		lines[i] = fmt.Sprintf("  %s  %s  %s", j.ID, j.State, truncate(oneLine(j.Name), 40))
	}
	return nil, ambiguous("job", arg, lines)
}

// resolveRun returns the ID of the run that arg names or starts. Every job
// has a run with the job's ID, so job IDs work too.
func (e *env) resolveRun(ctx context.Context, arg string) (*trainyard.Run, error) {
	r, err := e.client.Run(ctx, arg)
	if err == nil || !isNotFound(err) {
		return r, err
	}
	rs, perr := e.client.SearchRuns(ctx, client.RunQuery{IDPrefix: arg, RunFilter: trainyard.RunFilter{Limit: maxCandidates + 1}})
	if perr != nil {
		return nil, err
	}
	switch len(rs) {
	case 0:
		return nil, &client.Error{Status: 404, Code: "not_found", Message: fmt.Sprintf("run %s not found (no run ID is or starts with %q)", arg, arg)}
	case 1:
		return rs[0], nil
	}
	lines := make([]string, len(rs))
	for i, r := range rs {
		lines[i] = fmt.Sprintf("  %s  %s  %s/%s", r.ID, r.State, truncate(oneLine(r.Project), 20), truncate(oneLine(r.Name), 30))
	}
	return nil, ambiguous("run", arg, lines)
}

func ambiguous(what, arg string, lines []string) error {
	more := ""
	if len(lines) > maxCandidates {
		lines = lines[:maxCandidates]
		more = "\n  …"
	}
	return fmt.Errorf("%s ID prefix %q is ambiguous; it starts these %ss:\n%s%s\ntype more of the ID", what, arg, what, strings.Join(lines, "\n"), more)
}

func isNotFound(err error) bool {
	var ce *client.Error
	return errors.As(err, &ce) && ce.Status == 404
}
