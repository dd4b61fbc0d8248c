package local

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/trainyard/trainyard"
)

// state is what Handle.State holds, as JSON. Start times are field 22 of
// /proc/PID/stat (clock ticks since boot): a pid with another start time is
// another process that reused the number.
type state struct {
	V         int    `json:"v"`
	ShimPID   int    `json:"shim_pid"`
	ShimStart uint64 `json:"shim_start"`
	PID       int    `json:"pid"` // the job, leader of process group PID
	Start     uint64 `json:"start"`
	ExitFile  string `json:"exit_file"`
	// Cgroups are the task's control groups, removed by Cleanup.
	Cgroups []string `json:"cgroups,omitempty"`
}

const stateVersion = 1

func (s state) encode() string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err) // cannot happen: plain fields
	}
	return string(b)
}

func decodeHandle(h trainyard.Handle) (state, error) {
	var s state
	if err := json.Unmarshal([]byte(h), &s); err != nil {
		return s, trainyard.Errorf(trainyard.EINVALID, "handle state is not a local executor's: %v", err)
	}
	if s.V != stateVersion || s.ShimPID <= 0 || s.PID <= 0 || s.ExitFile == "" {
		return s, trainyard.Errorf(trainyard.EINVALID, "handle state is not a local executor's: %q", string(h))
	}
	return s, nil
}

// running reports whether the task has not ended: its shim runs, or its
// job does (the shim was killed and the job runs on, unwatched).
func (s state) running() bool {
	return running(s.ShimPID, s.ShimStart) || running(s.PID, s.Start)
}

// exitRecord is the content of an exit file, written by the shim.
type exitRecord struct {
	Code   int    `json:"code"`
	Signal string `json:"signal,omitempty"`
	Reason string `json:"reason,omitempty"` // which rank failed, for a multi-rank job
}

// readExitFile returns the status recorded in path, or Lost when there is
// none: the shim was killed before the job ended, or the machine rebooted.
func readExitFile(path string) (trainyard.ExitStatus, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return trainyard.ExitStatus{Lost: true}, nil
	}
	if err != nil {
		return trainyard.ExitStatus{}, fmt.Errorf("read exit file: %w", err)
	}
	var r exitRecord
	if err := json.Unmarshal(b, &r); err != nil {
		return trainyard.ExitStatus{}, fmt.Errorf("parse exit file %s: %w", path, err)
	}
	return trainyard.ExitStatus{Code: r.Code, Signal: r.Signal, Reason: r.Reason}, nil
}

// procStat returns the state letter and start time of pid from
// /proc/PID/stat.
func procStat(pid int) (st byte, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	st, start, err = parseStat(b)
	if err != nil {
		return 0, 0, fmt.Errorf("parse /proc/%d/stat: %w", pid, err)
	}
	return st, start, nil
}

// parseStat returns fields 3 (state) and 22 (starttime) of a
// /proc/PID/stat line, "pid (comm) S ppid ...". The comm may hold spaces
// and parentheses, so fields are counted from the last ')'.
func parseStat(b []byte) (st byte, start uint64, err error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, 0, errors.New("no comm")
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, errors.New("too few fields")
	}
	start, err = strconv.ParseUint(string(f[19]), 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("starttime: %w", err)
	}
	return f[0][0], start, nil
}

// running reports whether pid is the process that started at start and has
// not exited: it exists, has that start time and is not a zombie.
func running(pid int, start uint64) bool {
	st, s, err := procStat(pid)
	return err == nil && s == start && st != 'Z' && st != 'X'
}

// exists reports whether pid is the process that started at start, zombie
// or not: its pid, and the process group it leads, are not free for reuse.
func exists(pid int, start uint64) bool {
	_, s, err := procStat(pid)
	return err == nil && s == start
}
