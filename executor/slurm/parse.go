package slurm

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/launch"
)

// This file reads what Slurm's commands print: `squeue --json` and
// `sinfo --json` (data model v0.0.38 of Slurm 22.05, and the shapes later
// versions changed: states as lists, numbers as {"set","number"} objects,
// exit codes as objects), `sacct --parsable2`, and host lists. It is pure;
// every parser has a fuzz test.

// job is what trainyard needs of one Slurm job.
type job struct {
	ID      string
	Name    string
	State   string // the base state: PENDING, RUNNING, COMPLETED, TIMEOUT, ...
	Reason  string // state_reason; "" for None
	Nodes   []string
	Code    int // exit code of the batch script
	Signal  int // signal that ended it, 0 when none
	HasExit bool
	StdOut  string // the --output path, when squeue lists it
	Count   int    // nodes asked for, when squeue lists it
}

// flexNum reads a number written plainly or as Slurm 23's
// {"set": true, "infinite": false, "number": N}; unset reads as 0.
type flexNum int64

func (n *flexNum) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		*n = 0
		return nil
	}
	if b[0] == '{' {
		var o struct {
			Set    bool  `json:"set"`
			Number int64 `json:"number"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		if o.Set {
			*n = flexNum(o.Number)
		}
		return nil
	}
	var f float64
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	*n = flexNum(f)
	return nil
}

// flexStrings reads one string or a list of strings (job_state became a
// list of flags in Slurm 23).
type flexStrings []string

func (s *flexStrings) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || string(b) == "null":
		*s = nil
		return nil
	case b[0] == '[':
		var v []string
		err := json.Unmarshal(b, &v)
		*s = v
		return err
	}
	var v string
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	*s = flexStrings{v}
	return nil
}

// exitField reads exit_code: the raw wait status (v0.0.38) or
// {"status": [...], "return_code": N, "signal": {"id": N}} (later).
type exitField struct {
	Code, Signal int
	Set          bool
}

func (e *exitField) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || string(b) == "null" {
		return nil
	}
	if b[0] == '{' {
		var o struct {
			ReturnCode flexNum `json:"return_code"`
			Signal     struct {
				ID     flexNum `json:"id"`
				Signal flexNum `json:"signal_id"`
			} `json:"signal"`
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return err
		}
		*e = exitField{Code: int(o.ReturnCode), Signal: int(max(o.Signal.ID, o.Signal.Signal)), Set: true}
		return nil
	}
	var raw flexNum
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	ws := syscall.WaitStatus(raw)
	*e = exitField{Code: ws.ExitStatus(), Set: true}
	if ws.Signaled() {
		*e = exitField{Signal: int(ws.Signal()), Set: true}
	}
	return nil
}

// parseSqueue reads `squeue --json`.
func parseSqueue(b []byte) ([]job, error) {
	var doc struct {
		Errors []json.RawMessage `json:"errors"`
		Jobs   []struct {
			JobID       flexNum     `json:"job_id"`
			Name        string      `json:"name"`
			JobState    flexStrings `json:"job_state"`
			StateReason string      `json:"state_reason"`
			Nodes       string      `json:"nodes"`
			ExitCode    exitField   `json:"exit_code"`
			StdOut      string      `json:"standard_output"`
			NodeCount   flexNum     `json:"node_count"`
		} `json:"jobs"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("read squeue --json: %w", err)
	}
	if doc.Jobs == nil && len(doc.Errors) > 0 {
		return nil, fmt.Errorf("squeue --json: %s", doc.Errors[0])
	}
	jobs := make([]job, 0, len(doc.Jobs))
	for _, j := range doc.Jobs {
		if j.JobID <= 0 {
			continue
		}
		nodes, _ := ExpandHostlist(j.Nodes) // a malformed list only loses the names
		jobs = append(jobs, job{
			ID: strconv.FormatInt(int64(j.JobID), 10), Name: j.Name, State: baseState(j.JobState),
			Reason: reasonWord(j.StateReason), Nodes: nodes,
			Code: j.ExitCode.Code, Signal: j.ExitCode.Signal, HasExit: j.ExitCode.Set,
			StdOut: j.StdOut, Count: int(j.NodeCount),
		})
	}
	return jobs, nil
}

// baseState picks the job's state from Slurm's state and flags:
// COMPLETING counts over the base state (processes are still stopping),
// and so do the states of a job being set up or requeued.
func baseState(states []string) string {
	base := ""
	for _, s := range states {
		switch s = strings.ToUpper(strings.TrimSpace(s)); s {
		case "COMPLETING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESIZING", "SIGNALING", "STAGE_OUT":
			return s
		default:
			if base == "" {
				base = s
			}
		}
	}
	return base
}

func reasonWord(r string) string {
	if r == "None" || r == "(null)" {
		return ""
	}
	return r
}

// sacctFields are the columns read from `sacct --parsable2`, in order.
const sacctFields = "JobID,JobName,State,ExitCode,NodeList"

// parseSacct reads `sacct --noheader --parsable2 --format=` + sacctFields:
// one job (allocation) a line; steps ("123.batch", "123.0") are skipped.
// "CANCELLED by 0" reads as CANCELLED.
func parseSacct(b []byte) ([]job, error) {
	var jobs []job
	for n, line := range strings.Split(string(b), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		f := strings.Split(line, "|")
		if len(f) < 5 {
			return nil, fmt.Errorf("sacct line %d: %q has %d fields, want 5", n+1, line, len(f))
		}
		if strings.ContainsAny(f[0], ".+_") { // steps, heterogeneous or array parts
			continue
		}
		if _, err := strconv.ParseUint(f[0], 10, 64); err != nil {
			return nil, fmt.Errorf("sacct line %d: job id %q is not a number", n+1, f[0])
		}
		state, _, _ := strings.Cut(strings.TrimSpace(f[2]), " ")
		j := job{ID: f[0], Name: f[1], State: state}
		if c, s, ok := strings.Cut(f[3], ":"); ok {
			code, err1 := strconv.Atoi(c)
			sig, err2 := strconv.Atoi(s)
			if err1 == nil && err2 == nil {
				j.Code, j.Signal, j.HasExit = code, sig, true
			}
		}
		if f[4] != "None assigned" {
			j.Nodes, _ = ExpandHostlist(f[4])
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// phaseOf maps a Slurm job state to a task phase.
func phaseOf(state string) trainyard.Phase {
	switch state {
	case "PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "CONFIGURING":
		return trainyard.PhasePending
	case "COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "PREEMPTED",
		"BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "SPECIAL_EXIT", "REVOKED":
		return trainyard.PhaseEnded
	}
	// RUNNING, SUSPENDED, STOPPED, COMPLETING, RESIZING, SIGNALING, STAGE_OUT,
	// and any state a later Slurm adds: something may still run.
	return trainyard.PhaseRunning
}

// exitOf turns an ended job into an ExitStatus. The code is the batch
// script's, which is srun's, which is the launcher's on the first node that
// failed: the failing rank's code, or 128+signal when a signal ended it (as
// shells report it). A code above 128 is read as that signal, since the
// launcher folds signals into codes that way. States in which Slurm ended
// the job (TIMEOUT, OUT_OF_MEMORY, NODE_FAIL, ...) are the Reason and never
// read as success.
func exitOf(j job) trainyard.ExitStatus {
	st := trainyard.ExitStatus{Code: j.Code}
	if j.Signal > 0 {
		st.Code = 128 + j.Signal
	}
	if st.Code > 128 && st.Code < 128+65 {
		st.Signal = launch.SignalName(syscall.Signal(st.Code - 128))
	}
	switch j.State {
	case "COMPLETED":
		return st
	case "FAILED":
		if st.Code == 0 {
			st.Code, st.Reason = 1, "FAILED"
		}
		return st
	case "CANCELLED":
		st.Reason = "CANCELLED"
		if st.Code == 0 { // cancelled before it started
			st.Code, st.Signal = 128+int(syscall.SIGTERM), "SIGTERM"
		}
		return st
	case "OUT_OF_MEMORY":
		st.Reason = "OUT_OF_MEMORY: a process was killed for using more memory than the job asked for"
		if st.Code == 0 {
			st.Code, st.Signal = 128+int(syscall.SIGKILL), "SIGKILL"
		}
		return st
	case "TIMEOUT":
		st.Reason = "TIMEOUT: the job reached its time limit"
		if st.Code == 0 {
			st.Code, st.Signal = 128+int(syscall.SIGTERM), "SIGTERM"
		}
		return st
	}
	st.Reason = j.State // NODE_FAIL, PREEMPTED, BOOT_FAIL, DEADLINE, ...
	if st.Code == 0 {
		st.Code = 1
	}
	return st
}

// ExpandHostlist expands a Slurm host list such as "n[1-3,5],gpu[01-02]-ib"
// into host names, in order: ["n1" "n2" "n3" "n5" "gpu01-ib" "gpu02-ib"].
// Zero padding is kept. It returns an error for unbalanced brackets, bad
// ranges, or more than 100,000 names.
func ExpandHostlist(list string) ([]string, error) {
	list = strings.TrimSpace(list)
	if list == "" || list == "(null)" || list == "None assigned" {
		return nil, nil
	}
	var out []string
	depth, start := 0, 0
	for i := 0; i <= len(list); i++ {
		if i < len(list) {
			switch list[i] {
			case '[':
				depth++
				if depth > 1 {
					return nil, fmt.Errorf("host list %q: nested [", list)
				}
				continue
			case ']':
				depth--
				if depth < 0 {
					return nil, fmt.Errorf("host list %q: ] without [", list)
				}
				continue
			case ',':
				if depth > 0 {
					continue
				}
			default:
				continue
			}
		}
		if depth != 0 {
			return nil, fmt.Errorf("host list %q: unclosed [", list)
		}
		names, err := expandOne(list[start:i], maxHosts-len(out))
		if err != nil {
			return nil, fmt.Errorf("host list %q: %w", list, err)
		}
		out = append(out, names...)
		start = i + 1
	}
	return out, nil
}

const maxHosts = 100000

// expandOne expands one name with any number of bracketed ranges
// ("rack[1-2]-n[01-02]").
func expandOne(s string, room int) ([]string, error) {
	if s == "" {
		return nil, fmt.Errorf("empty name")
	}
	b := strings.IndexByte(s, '[')
	if b < 0 {
		return []string{s}, nil
	}
	e := strings.IndexByte(s, ']')
	if e < b {
		return nil, fmt.Errorf("unclosed [")
	}
	prefix, inner := s[:b], s[b+1:e]
	rest, err := expandOne(s[e+1:], room)
	if s[e+1:] == "" {
		rest, err = []string{""}, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, part := range strings.Split(inner, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if !isRange {
			hi = lo
		}
		a, err1 := strconv.Atoi(lo)
		z, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || a < 0 || z < a || lo == "" || lo[0] == '+' || hi[0] == '+' {
			return nil, fmt.Errorf("bad range %q", part)
		}
		if (z-a+1)*len(rest) > room-len(out) {
			return nil, fmt.Errorf("more than %d names", maxHosts)
		}
		for n := a; n <= z; n++ {
			num := strconv.Itoa(n)
			if pad := len(lo) - len(num); pad > 0 && lo[0] == '0' {
				num = strings.Repeat("0", pad) + num
			}
			for _, r := range rest {
				out = append(out, prefix+num+r)
			}
		}
	}
	return out, nil
}

// sinfoNode is one node of `sinfo --json`.
type sinfoNode struct {
	Name       string      `json:"name"`
	Address    string      `json:"address"`
	State      flexStrings `json:"state"`
	CPUs       flexNum     `json:"cpus"`
	RealMemory flexNum     `json:"real_memory"` // MiB
	Gres       string      `json:"gres"`
	Partitions []string    `json:"partitions"`
}

// parseSinfo reads `sinfo --json` into nodes: GPUs from the node's gpu
// GRES (indices 0..n-1, as CUDA numbers what Slurm gives a job), LabelPool
// its first partition, LabelGPUType the GRES type when all its GPUs have
// one type, and labels "partitions" (all, comma-separated) and
// "slurm_state".
func parseSinfo(b []byte) ([]trainyard.Node, error) {
	var doc struct {
		Errors []json.RawMessage `json:"errors"`
		Nodes  []sinfoNode       `json:"nodes"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("read sinfo --json: %w", err)
	}
	if doc.Nodes == nil && len(doc.Errors) > 0 {
		return nil, fmt.Errorf("sinfo --json: %s", doc.Errors[0])
	}
	seen := map[string]bool{}
	var nodes []trainyard.Node
	for _, n := range doc.Nodes {
		if n.Name == "" || seen[n.Name] {
			continue
		}
		seen[n.Name] = true
		count, typ := parseGres(n.Gres)
		node := trainyard.Node{Name: n.Name, Addr: n.Address, CPUs: int(n.CPUs),
			Memory: trainyard.Bytes(n.RealMemory) << 20, GPUs: make([]int, count), Labels: map[string]string{}}
		if node.Addr == node.Name {
			node.Addr = ""
		}
		for i := range node.GPUs {
			node.GPUs[i] = i
		}
		if len(n.Partitions) > 0 {
			node.Labels[trainyard.LabelPool] = strings.Join(n.Partitions, ",") // every partition: trainyard.PoolMatches
		}
		if typ != "" {
			node.Labels[trainyard.LabelGPUType] = typ
		}
		if len(n.State) > 0 {
			node.Labels["slurm_state"] = strings.ToLower(strings.Join(n.State, "+"))
		}
		nodes = append(nodes, node)
	}
	return nodes, nil
}

// parseGres reads a node's GRES ("gpu:2", "gpu:a100:4(S:0-1)",
// "gpu:a100:2,gpu:v100:2,mps:100") into its number of GPUs and their type:
// "" when untyped or of several types.
func parseGres(gres string) (count int, typ string) {
	types := map[string]bool{}
	for _, g := range strings.Split(gres, ",") {
		g, _, _ = strings.Cut(strings.TrimSpace(g), "(")
		f := strings.Split(g, ":")
		if f[0] != "gpu" || len(f) < 2 {
			continue
		}
		n, err := strconv.Atoi(f[len(f)-1])
		if err != nil || n < 0 || count+n > 1<<16 {
			continue
		}
		count += n
		t := ""
		if len(f) >= 3 {
			t = f[1]
		}
		types[t] = true
	}
	if len(types) == 1 {
		for t := range types {
			typ = t
		}
	}
	return count, typ
}
