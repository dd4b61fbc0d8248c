package trainyard

// A run search is data, not code: the API parses a filter and an ordering
// (package runquery reads MLflow's grammar) into clauses and terms, and the
// store answers them however it is fastest for it — SQLite from an index in
// memory, PostgreSQL by compiling them to SQL. Every store answers a search
// exactly as package runquery's reference evaluator does; the conformance
// suite (storetest) checks it on random searches.
//
// What a clause or a term reads of a run (RunKind):
//
//   - RunMetric: the latest value of a metric (MetricSummary.Last of a series
//     with points), a number; missing when the run has no such metric.
//   - RunParam: a config value rendered as a string as MLflow renders a
//     param (runquery.ParamString); missing when the key is not set.
//   - RunTag: a tag; missing when not set.
//   - RunAttribute: one of the Attr* names (runquery also takes aliases such
//     as run_name or status): AttrID, AttrName, AttrState, AttrProject and
//     AttrJobID are strings (job_id is missing for a run of no job);
//     AttrCreated, AttrStarted, AttrEnded (missing until the run ended) and
//     AttrExitCode (missing without one) are numbers, times in Unix
//     milliseconds. Any other attribute is always missing.
//
// A clause about a missing value is false, whatever its operator. Numbers
// compare as float64 with =, !=, <, <=, >, >= (a string value must parse as
// a number, or the clause is false); NaN equals nothing and differs from
// everything. Strings compare bytewise with =, !=, <, <=, >, >=; LIKE
// matches a pattern where % is any run of characters and _ is one
// character (there is no escape character); ILIKE is LIKE after both sides
// are lowercased (Unicode simple lowercase, as strings.ToLower); IN and NOT
// IN test membership in Values. An operator a value's type does not have
// (LIKE on a number, say) makes the clause false.
//
// An ordering sorts missing values last, in either direction. Numbers sort
// with NaN above every other number. Params and tags sort the values that
// parse as numbers (strconv.ParseFloat, NaN excepted) first, by number, and
// the others after them, bytewise; descending reverses both. Other strings
// sort bytewise. Every search is then ordered by creation time and ID,
// newest first, so that the order is total and pages are stable.

// RunKind is what a clause or an ordering term reads of a run.
type RunKind int

const (
	RunMetric RunKind = iota
	RunParam
	RunTag
	RunAttribute
)

func (k RunKind) String() string {
	switch k {
	case RunMetric:
		return "metrics"
	case RunParam:
		return "params"
	case RunTag:
		return "tags"
	case RunAttribute:
		return "attributes"
	}
	return "unknown"
}

// The attributes of a run that searches read.
const (
	AttrID       = "id"
	AttrName     = "name"
	AttrState    = "state"
	AttrProject  = "project"
	AttrJobID    = "job_id"
	AttrCreated  = "created"   // CreatedAt
	AttrStarted  = "started"   // StartedAt, or CreatedAt for a run that never started (MLflow's start_time)
	AttrEnded    = "ended"     // EndedAt; missing until the run ended
	AttrExitCode = "exit_code" // missing without one
)

// RunClause is one comparison: Kind.Key Op value.
type RunClause struct {
	Kind   RunKind
	Key    string
	Op     string   // =, !=, <, <=, >, >=, LIKE, ILIKE, IN, NOT IN
	Str    string   // the value as written
	Num    float64  // the value as a number, when IsNum
	IsNum  bool     // the value was written as a number
	Values []string // for IN and NOT IN
}

// RunOrder is one term of an ordering.
type RunOrder struct {
	Kind RunKind
	Key  string
	Desc bool
}

// RunSearch selects, orders and pages runs.
type RunSearch struct {
	Projects []string // empty: every project
	View     View
	// IDPrefix keeps the runs whose ID starts with it.
	IDPrefix string
	// Filter holds clauses that must all hold.
	Filter []RunClause
	// Order sorts the runs; ties (and everything, when empty) go newest
	// first (by creation time, then ID, descending).
	Order []RunOrder
	// PageToken continues a search where the page that returned it ended;
	// "" starts at the beginning. A token is valid for the same filter
	// and order; runs written meanwhile do not shift later pages.
	PageToken string
	Offset    int // runs to skip (after the token)
	Limit     int // 0 means DefaultListLimit
}
