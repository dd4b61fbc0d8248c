package sqlite

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/trainyard/trainyard"
)

// runIndex keeps every run, with its metric summaries, in memory for
// SearchRuns: a filtered, ordered search over 10,000 runs then costs a few
// milliseconds instead of decoding 10,000 rows and their summaries.
//
// It is loaded on the first search. Every write of a run or of its metrics
// calls changed(id) after it commits; the next search reloads those runs
// from the database before it answers. A search therefore sees every write
// that returned before it began:
//
//	write: commit ─► changed(id) ─► return
//	search: lock ─► take changed ids ─► reload them ─► install ─► unlock ─► match
//
// A write that commits while a search reloads marks its run again, so the
// next search reloads it once more; nothing is lost. Entries are never
// changed in place (a reload replaces them), so a search reads them
// without copying and copies only the page it returns.
type runIndex struct {
	reload sync.Mutex // one reload at a time; held across the database read

	mu      sync.Mutex
	loaded  bool
	dirty   map[string]struct{}
	byProj  map[string]map[string]*trainyard.Run
	project map[string]string // run → its project in byProj
}

// changed notes that a run was written.
func (x *runIndex) changed(id string) {
	x.mu.Lock()
	if x.loaded {
		x.dirty[id] = struct{}{}
	}
	x.mu.Unlock()
}

// changedMany notes that runs were written.
func (x *runIndex) changedMany(ids []string) {
	x.mu.Lock()
	if x.loaded {
		for _, id := range ids {
			x.dirty[id] = struct{}{}
		}
	}
	x.mu.Unlock()
}

// reset drops the index; the next search loads it again. For writes that
// touch many runs (renaming or deleting an experiment).
func (x *runIndex) reset() {
	x.mu.Lock()
	x.loaded, x.dirty, x.byProj, x.project = false, nil, nil, nil
	x.mu.Unlock()
}

// runs returns the indexed runs of the projects (every project when none
// is named), up to date with every write that returned before the call.
func (x *runIndex) runs(ctx context.Context, s *Store, projects []string) ([]*trainyard.Run, error) {
	x.reload.Lock()
	defer x.reload.Unlock()
	x.mu.Lock()
	var ids []string
	full := !x.loaded
	if full {
		// From here on writes are noted; the load below sees them or they
		// are reloaded by the next search.
		x.loaded, x.dirty = true, map[string]struct{}{}
		x.byProj, x.project = map[string]map[string]*trainyard.Run{}, map[string]string{}
	} else {
		for id := range x.dirty {
			ids = append(ids, id)
		}
		clear(x.dirty)
	}
	x.mu.Unlock()

	var fresh []*trainyard.Run
	var err error
	if full {
		fresh, err = s.loadRuns(ctx, "", nil)
	} else if len(ids) > 0 {
		for i := 0; i < len(ids) && err == nil; i += 500 {
			part := ids[i:min(i+500, len(ids))]
			args := make([]any, len(part))
			for k, id := range part {
				args[k] = id
			}
			var got []*trainyard.Run
			got, err = s.loadRuns(ctx, `WHERE id IN (?`+strings.Repeat(",?", len(part)-1)+`)`, args)
			fresh = append(fresh, got...)
		}
	}
	if err != nil {
		x.reset()
		return nil, err
	}

	x.mu.Lock()
	defer x.mu.Unlock()
	if !x.loaded { // reset while loading
		return nil, trainyard.Errorf(trainyard.EUNAVAILABLE, "the run index was reset during the search; try again")
	}
	for _, r := range fresh {
		if old, ok := x.project[r.ID]; ok && old != r.Project {
			delete(x.byProj[old], r.ID)
		}
		m := x.byProj[r.Project]
		if m == nil {
			m = map[string]*trainyard.Run{}
			x.byProj[r.Project] = m
		}
		m[r.ID] = r
		x.project[r.ID] = r.Project
	}
	if len(projects) == 0 {
		projects = make([]string, 0, len(x.byProj))
		for p := range x.byProj {
			projects = append(projects, p)
		}
	} else {
		projects = slices.Compact(slices.Sorted(slices.Values(projects))) // each once
	}
	n := 0
	for _, p := range projects {
		n += len(x.byProj[p])
	}
	out := make([]*trainyard.Run, 0, n)
	for _, p := range projects {
		for _, r := range x.byProj[p] {
			out = append(out, r)
		}
	}
	return out, nil
}

// loadRuns reads runs (all, or those where selects) with their summaries.
func (s *Store) loadRuns(ctx context.Context, where string, args []any) ([]*trainyard.Run, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+runColumns+` FROM runs `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("load runs: %w", err)
	}
	var out []*trainyard.Run
	for rows.Next() {
		r, err := scanRun(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		out = append(out, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("load runs: %w", err)
	}
	if where == "" {
		// Every summary in one scan rather than by batches of IDs.
		if err := s.loadAllSummaries(ctx, out); err != nil {
			return nil, err
		}
		return out, nil
	}
	return out, s.loadSummaries(ctx, s.r, out)
}

func (s *Store) loadAllSummaries(ctx context.Context, runs []*trainyard.Run) error {
	byID := make(map[string]*trainyard.Run, len(runs))
	for _, r := range runs {
		byID[r.ID] = r
		r.Metrics = map[string]trainyard.MetricSummary{}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT run_id, key, summary FROM series`)
	if err != nil {
		return fmt.Errorf("load metric summaries: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, key string
		var sum []byte
		if err := rows.Scan(&id, &key, &sum); err != nil {
			return err
		}
		r := byID[id]
		if r == nil {
			continue
		}
		m, err := decodeSummary(sum)
		if err != nil {
			return fmt.Errorf("decode summary of %s/%s: %w", id, key, err)
		}
		r.Metrics[key] = m
	}
	return rows.Err()
}

// cloneRun copies a run deeply enough that the caller may change its maps.
func cloneRun(r *trainyard.Run) *trainyard.Run {
	c := *r
	c.Config, c.Tags, c.Summary, c.Metrics = maps.Clone(r.Config), maps.Clone(r.Tags), maps.Clone(r.Summary), maps.Clone(r.Metrics)
	return &c
}

func decodeSummary(b []byte) (trainyard.MetricSummary, error) {
	var m trainyard.MetricSummary
	err := json.Unmarshal(b, &m)
	return m, err
}
