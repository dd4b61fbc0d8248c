package trainyard

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Run is one tracked execution: every job has one (with the job's ID), and
// runs can be created by training code outside any job.
type Run struct {
	ID       string                   `json:"id"`
	Project  string                   `json:"project"`
	Name     string                   `json:"name"`
	State    State                    `json:"state"`
	JobID    string                   `json:"job_id,omitempty"`
	Config   map[string]any           `json:"config"`  // flattened: nested keys joined with dots
	Tags     map[string]string        `json:"tags"`    // overwritable labels
	Summary  map[string]any           `json:"summary"` // values the training code set
	Metrics  map[string]MetricSummary `json:"metrics"` // per metric key, kept by the store
	Command  []string                 `json:"command,omitempty"`
	Workdir  string                   `json:"workdir,omitempty"`
	Git      *GitInfo                 `json:"git,omitempty"`
	ExitCode *int                     `json:"exit_code,omitempty"`
	Reason   string                   `json:"reason,omitempty"`
	Deleted  bool                     `json:"deleted,omitempty"` // hidden from lists unless asked for
	// Owner is the user who created the run, or its job ("" on a server
	// without users).
	Owner string `json:"owner,omitempty"`

	CreatedAt time.Time `json:"created_at"`
	StartedAt time.Time `json:"started_at,omitzero"`
	EndedAt   time.Time `json:"ended_at,omitzero"`
}

// GitInfo is the code version of the directory a run was started from.
type GitInfo struct {
	Commit string `json:"commit"`
	Dirty  bool   `json:"dirty"`
	Branch string `json:"branch,omitempty"`
	Remote string `json:"remote,omitempty"`
}

// RunUpdate changes a run. Nil fields are left alone; maps are merged into
// the run's (a key set again is overwritten).
type RunUpdate struct {
	Name       *string           `json:"name,omitempty"`
	State      *State            `json:"state,omitempty"`
	Reason     *string           `json:"reason,omitempty"`
	ExitCode   *int              `json:"exit_code,omitempty"`
	Config     map[string]any    `json:"config,omitempty"`
	Tags       map[string]string `json:"tags,omitempty"`
	DeleteTags []string          `json:"delete_tags,omitempty"`
	Summary    map[string]any    `json:"summary,omitempty"` // a null value deletes the key
	// EndedAt, with a terminal State, is when the run ended (an offline run
	// synced later ended before the sync); default now.
	EndedAt *time.Time `json:"ended_at,omitempty"`
	// Project moves the run to another project (not through the native
	// API: the tracking service moves a job's run into the experiment its
	// MLflow code chose).
	Project *string `json:"-"`
}

// Validate reports every problem with the update at once.
func (u *RunUpdate) Validate() error {
	var errs []error
	if u.Name != nil && len(*u.Name) > MaxNameLen {
		errs = append(errs, FieldError("name", "is %d characters, more than %d", len(*u.Name), MaxNameLen))
	}
	if u.State != nil && !u.State.Valid() {
		errs = append(errs, FieldError("state", "%q is not one of QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELED", *u.State))
	}
	if u.EndedAt != nil && (u.State == nil || !u.State.Terminal()) {
		errs = append(errs, FieldError("ended_at", "goes with a final state (SUCCEEDED, FAILED or CANCELED)"))
	}
	errs = append(errs, validateKeys("config", u.Config), validateKeys("summary", u.Summary))
	for k := range u.Tags {
		errs = append(errs, ValidateKey("tags", k))
	}
	return errors.Join(errs...)
}

// NewRun is what a client sends to create a run outside any job.
type NewRun struct {
	ID      string            `json:"id,omitempty"` // optional: offline runs bring their own
	Project string            `json:"project,omitempty"`
	Name    string            `json:"name,omitempty"`
	Config  map[string]any    `json:"config,omitempty"`
	Tags    map[string]string `json:"tags,omitempty"`
	Command []string          `json:"command,omitempty"`
	Workdir string            `json:"workdir,omitempty"`
	Git     *GitInfo          `json:"git,omitempty"`
	// StartedAt lets an offline run that is synced later keep its real start.
	StartedAt time.Time `json:"started_at,omitzero"`
	// DefaultName is the name of a new run when Name is empty (MLflow
	// generates one); default: the run's ID.
	DefaultName string `json:"-"`
}

// Validate reports every problem at once.
func (n *NewRun) Validate() error {
	var errs []error
	if n.ID != "" {
		errs = append(errs, ValidateID("id", n.ID))
	}
	if n.Project != "" {
		errs = append(errs, ValidateProject("project", n.Project))
	}
	if len(n.Name) > MaxNameLen {
		errs = append(errs, FieldError("name", "is %d characters, more than %d", len(n.Name), MaxNameLen))
	}
	errs = append(errs, validateKeys("config", n.Config))
	for k := range n.Tags {
		errs = append(errs, ValidateKey("tags", k))
	}
	return errors.Join(errs...)
}

// MaxKeyLen is the longest metric, config, summary or tag key, in bytes.
const MaxKeyLen = 250

// KeyGrammar describes the keys ValidateKey accepts, for messages and docs.
const KeyGrammar = "keys are 1-250 bytes of letters, digits, '_', '-', '.', ':', ' ' and '/', " +
	"and, read as a path, must not resolve to another name: no empty, \".\" or \"..\" segment, " +
	"no leading or trailing '/', no leading \"..\""

// ValidateKey checks a metric, config, summary or tag key against the one
// key grammar of trainyard, which is MLflow's (so that a run moves between
// them unchanged): 1 to MaxKeyLen bytes of Unicode letters and digits and
// the characters _ - . : / and space; and since a key is also a URL path
// (GET /runs/{id}/metrics/{key...}) and may be treated as a file name, it
// must be a clean relative path that resolves to no other name: no empty,
// "." or ".." segment (so no leading, trailing or doubled '/'), and it must
// not start with ".." (as MLflow, which refuses what posixpath.normpath
// changes or what starts with "/" or ".."). Every key this accepts reads
// back through every path: the API, the CLI and the UI's URLs. The error is
// EINVALID, names field and quotes the key.
func ValidateKey(field, k string) error {
	switch {
	case k == "":
		return FieldError(field, "has an empty key")
	case len(k) > MaxKeyLen:
		return FieldError(field, "key %.40q... is %d bytes, more than %d", k, len(k), MaxKeyLen)
	case !utf8.ValidString(k):
		return FieldError(field, "key %q is not valid UTF-8", k)
	}
	for _, r := range k {
		if !keyRune(r) {
			return FieldError(field, "key %q contains %q: %s", k, r, KeyGrammar)
		}
	}
	if why := keyPathProblem(k); why != "" {
		return FieldError(field, "key %q %s: %s", k, why, KeyGrammar)
	}
	return nil
}

func keyRune(r rune) bool {
	switch {
	case r < utf8.RuneSelf:
		return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' ||
			r == '_' || r == '-' || r == '.' || r == ':' || r == ' ' || r == '/'
	default: // Python's \w, as MLflow's pattern uses it: letters and numbers
		return unicode.IsLetter(r) || unicode.IsNumber(r)
	}
}

// keyPathProblem says why k, read as a slash-separated path, is not the one
// name it resolves to, or "" when it is.
func keyPathProblem(k string) string {
	if strings.HasPrefix(k, "..") {
		return "starts with \"..\""
	}
	for i, seg := range strings.Split(k, "/") {
		switch seg {
		case "":
			switch {
			case i == 0:
				return "starts with '/'"
			case strings.HasSuffix(k, "/") && i == strings.Count(k, "/"):
				return "ends with '/'"
			}
			return "has an empty segment (\"//\")"
		case ".", "..":
			return fmt.Sprintf("has a %q segment", seg)
		}
	}
	return ""
}

func validateKeys(field string, m map[string]any) error {
	var errs []error
	for k := range FlattenConfig(m) {
		errs = append(errs, ValidateKey(field, k))
	}
	return errors.Join(errs...)
}

// ValidateID checks a client-chosen ID: 1-64 letters, digits, '-' or '_'.
func ValidateID(field, id string) error {
	if id == "" || len(id) > 64 {
		return FieldError(field, "%q must be 1-64 characters", id)
	}
	for _, r := range id {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return FieldError(field, "%q may hold only letters, digits, '-' and '_'", id)
		}
	}
	return nil
}

// FlattenConfig returns the config with nested maps flattened into dotted
// keys: {"model": {"layers": 3}} becomes {"model.layers": 3}. Lists and
// scalars are kept as values. An empty nested map is kept as a value.
func FlattenConfig(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	flattenInto(out, "", m)
	return out
}

func flattenInto(out map[string]any, prefix string, m map[string]any) {
	for k, v := range m {
		key := k
		if prefix != "" {
			key = prefix + "." + k
		}
		if sub, ok := v.(map[string]any); ok && len(sub) > 0 {
			flattenInto(out, key, sub)
			continue
		}
		out[key] = v
	}
}

// SortedKeys returns the keys of m in order.
func SortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// RunFilter selects runs to list. Zero fields select everything.
type RunFilter struct {
	Project string
	State   State
	View    View // deleted runs are left out unless asked for
	Limit   int  // 0 means DefaultListLimit
	Offset  int
}

// DefaultListLimit is how many items a list returns when asked for no limit.
const DefaultListLimit = 1000

// Project is a group of runs.
type Project struct {
	Name      string    `json:"name"`
	Runs      int       `json:"runs"`
	LastRunAt time.Time `json:"last_run_at,omitzero"`
}

// String renders a run reference for messages.
func (r *Run) String() string { return fmt.Sprintf("run %s (%s/%s)", r.ID, r.Project, r.Name) }
