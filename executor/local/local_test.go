package local

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/launch"
)

func TestExitStatus(t *testing.T) {
	tests := []struct {
		name    string
		script  string
		want    trainyard.ExitStatus
		wantLog string
	}{
		{"success", "echo out; echo err >&2", trainyard.ExitStatus{Code: 0}, "out\nerr\n"},
		{"exit code", "echo out; echo err >&2; exit 3", trainyard.ExitStatus{Code: 3}, "out\nerr\n"},
		{"killed by signal", "echo out; kill -KILL $$", trainyard.ExitStatus{Code: 137, Signal: "SIGKILL"}, "out\n"},
	}
	e := newExecutor(t, t.TempDir())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := newTask(t, "sh", "-c", tt.script)
			h := start(t, e, task)
			if got := wait(t, e, h); got != tt.want {
				t.Errorf("Wait = %+v, want %+v", got, tt.want)
			}
			alive, got, err := inspect(e, h)
			if err != nil || alive || got != tt.want {
				t.Errorf("Inspect = %v, %+v, %v; want false, %+v, nil", alive, got, err, tt.want)
			}
			if diff := cmp.Diff(tt.wantLog, readLog(t, task)); diff != "" {
				t.Errorf("log (-want +got):\n%s", diff)
			}
		})
	}
}

func TestEnvAndWorkdir(t *testing.T) {
	// A program that only the task's PATH finds, and a script named
	// relative to the workdir.
	bin := t.TempDir()
	writeScript(t, filepath.Join(bin, "trainyard-test-tool"), `echo "tool in $(pwd -P)"`)
	tests := []struct {
		name    string
		command []string
		env     []string
		gpus    []int
		wantLog string // {dir} is the workdir
	}{
		{
			name:    "env is the task's only",
			command: []string{"sh", "-c", `echo "$CUDA_VISIBLE_DEVICES ${TRAINYARD_SERVER_ONLY-unset}"; pwd -P`},
			env:     []string{"PATH=" + os.Getenv("PATH"), "CUDA_VISIBLE_DEVICES=0"},
			gpus:    []int{1, 3}, // the placement's GPUs win over the task's variable
			wantLog: "1,3 unset\n{dir}\n",
		},
		{
			name:    "program found with the task's PATH",
			command: []string{"trainyard-test-tool"},
			env:     []string{"PATH=" + bin + ":" + os.Getenv("PATH")},
			wantLog: "tool in {dir}\n",
		},
		{
			name:    "relative program in the workdir",
			command: []string{"./run.sh"},
			env:     []string{"PATH=" + os.Getenv("PATH")},
			wantLog: "run.sh in {dir}\n",
		},
	}
	t.Setenv("TRAINYARD_SERVER_ONLY", "leaked")
	e := newExecutor(t, t.TempDir())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := newTask(t, tt.command...)
			task.Env = append(tt.env, shimEnv...)
			task.Placement[0].GPUs = tt.gpus
			dir, err := filepath.EvalSymlinks(task.Workdir)
			if err != nil {
				t.Fatal(err)
			}
			writeScript(t, filepath.Join(dir, "run.sh"), `echo "run.sh in $(pwd -P)"`)
			if st := wait(t, e, start(t, e, task)); st != (trainyard.ExitStatus{}) {
				t.Errorf("status = %+v, want success; log:\n%s", st, readLog(t, task))
			}
			want := strings.ReplaceAll(tt.wantLog, "{dir}", dir)
			if diff := cmp.Diff(want, readLog(t, task)); diff != "" {
				t.Errorf("log (-want +got):\n%s", diff)
			}
		})
	}
}

func writeScript(t *testing.T, path, body string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
}

func TestStartError(t *testing.T) {
	tests := []struct {
		name    string
		modify  func(*trainyard.Task)
		wantMsg []string // each is in the error and in the log
	}{
		{
			name:    "program not found",
			modify:  func(task *trainyard.Task) { task.Command = []string{"trainyard-no-such-program", "x"} },
			wantMsg: []string{`"trainyard-no-such-program"`, "not found"},
		},
		{
			name:    "empty command",
			modify:  func(task *trainyard.Task) { task.Command = []string{""} },
			wantMsg: []string{"empty command"},
		},
		{
			name:    "workdir missing",
			modify:  func(task *trainyard.Task) { task.Workdir = filepath.Join(task.Workdir, "missing") },
			wantMsg: []string{"workdir", "/missing", "no such file or directory"},
		},
		{
			name: "program not executable",
			modify: func(task *trainyard.Task) {
				os.WriteFile(filepath.Join(task.Workdir, "data.txt"), nil, 0o644)
				task.Command = []string{"./data.txt"}
			},
			wantMsg: []string{"data.txt", "permission denied"},
		},
	}
	stateDir := t.TempDir()
	e := newExecutor(t, stateDir)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			task := newTask(t, "true")
			tt.modify(&task)
			h, err := e.Start(context.Background(), task)
			if !trainyard.IsCode(err, trainyard.EINVALID) {
				t.Fatalf("Start = %+v, %v; want an EINVALID error", h, err)
			}
			log := readLog(t, task)
			t.Logf("error: %v; log: %q", err, log)
			for _, m := range tt.wantMsg {
				if !strings.Contains(err.Error(), m) {
					t.Errorf("error %q does not contain %q", err, m)
				}
				if !strings.Contains(log, m) {
					t.Errorf("log %q does not contain %q", log, m)
				}
			}
		})
	}
	if ents, _ := os.ReadDir(stateDir); len(ents) != 0 {
		t.Errorf("state dir holds %v after failed starts, want nothing", ents)
	}
}

func TestSignal(t *testing.T) {
	e := newExecutor(t, t.TempDir())

	t.Run("SIGTERM reaches grandchildren", func(t *testing.T) {
		task := newTask(t, "sh", "-c", "sleep 100 & sleep 100 & wait")
		h := start(t, e, task)
		eventually(t, "sh and two sleeps in the job's group", func() bool { return len(groupMembers(t, pidOf(t, h))) == 3 })
		if err := e.Signal(ctx, h, trainyard.SIGTERM); err != nil {
			t.Fatal(err)
		}
		want := trainyard.ExitStatus{Code: 143, Signal: "SIGTERM"}
		if got := wait(t, e, h); got != want {
			t.Errorf("status = %+v, want %+v", got, want)
		}
		if groupExistsNow(pidOf(t, h)) {
			t.Errorf("processes left in group %d: %v", pidOf(t, h), groupMembers(t, pidOf(t, h)))
		}
		if err := e.Signal(ctx, h, trainyard.SIGTERM); err != nil {
			t.Errorf("Signal after exit = %v, want nil", err)
		}
	})

	t.Run("SIGKILL ends a job that ignores SIGTERM", func(t *testing.T) {
		task := newTask(t, "sh", "-c", `trap "" TERM; echo ready; `+untilGo)
		h := start(t, e, task)
		eventually(t, "the trap", func() bool { return strings.Contains(readLog(t, task), "ready") })
		if err := e.Signal(ctx, h, trainyard.SIGTERM); err != nil {
			t.Fatal(err)
		}
		// Signal is synchronous: SIGTERM is delivered, and ignored, by now.
		time.Sleep(50 * time.Millisecond)
		if ts, _ := e.Inspect(ctx, h); ts.Phase != trainyard.PhaseRunning {
			t.Fatal("the job died of an ignored SIGTERM")
		}
		if err := e.Signal(ctx, h, trainyard.SIGKILL); err != nil {
			t.Fatal(err)
		}
		want := trainyard.ExitStatus{Code: 137, Signal: "SIGKILL"}
		if got := wait(t, e, h); got != want {
			t.Errorf("status = %+v, want %+v", got, want)
		}
	})
}

func TestShimStopsStrays(t *testing.T) {
	tests := []struct {
		name   string
		script string
		slow   bool
	}{
		{"stray stops on SIGTERM", "sleep 100 & exit 0", false},
		// The stray says when it ignores SIGTERM; then the job exits.
		{"stray that ignores SIGTERM is killed", `(trap "" TERM; echo > stray; sleep 100) & ` +
			`while [ ! -s stray ]; do sleep 0.01; done; exit 0`, true},
	}
	e := newExecutor(t, t.TempDir())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.slow && testing.Short() {
				t.Skip("takes the shim's 3s grace period")
			}
			task := newTask(t, "sh", "-c", tt.script)
			h := start(t, e, task)
			if got := wait(t, e, h); got != (trainyard.ExitStatus{}) {
				t.Errorf("status = %+v, want success", got)
			}
			if groupExistsNow(pidOf(t, h)) {
				t.Errorf("processes left in group %d: %v", pidOf(t, h), groupMembers(t, pidOf(t, h)))
			}
			if log := readLog(t, task); !strings.Contains(log, "left processes in its group") {
				t.Errorf("log %q does not say that strays were stopped", log)
			}
		})
	}
}

// TestShimReapsOrphans checks that processes the job orphans, which the
// shim adopts, do not pile up as zombies while the job runs.
func TestShimReapsOrphans(t *testing.T) {
	e := newExecutor(t, t.TempDir())
	task := newTask(t, "sh", "-c", "(sleep 0 &); (sleep 0 &); (sleep 0 &); echo orphaned; "+untilGo)
	h := start(t, e, task)
	defer kill(t, e, h)
	s, _ := decodeHandle(h)
	eventually(t, "the orphans", func() bool { return strings.Contains(readLog(t, task), "orphaned") })
	eventually(t, "the job as the shim's only child", func() bool {
		return slices.Equal(children(t, s.ShimPID), []int{pidOf(t, h)})
	})
}

// TestServerKilled plays the server in a child process that starts a task
// and is then killed with SIGKILL; a new Executor picks the task up from
// its handle and learns its real exit code.
func TestServerKilled(t *testing.T) {
	stateDir, workdir := t.TempDir(), t.TempDir()
	server := exec.Command(os.Args[0], "__server", stateDir, workdir)
	server.Stderr = os.Stderr
	out, err := server.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Process.Kill(); server.Wait() })
	var h trainyard.Handle
	if err := json.Unmarshal([]byte(firstLine(t, bufio.NewReader(out))), &h); err != nil {
		t.Fatal(err)
	}
	server.Process.Kill()
	server.Wait()

	e := newExecutor(t, stateDir)
	t.Cleanup(func() { kill(t, e, h) })
	if alive, st, err := inspect(e, h); !alive || err != nil {
		t.Fatalf("Inspect after the server died = %v, %+v, %v; want alive", alive, st, err)
	}
	release(t, workdir)
	want := trainyard.ExitStatus{Code: 7}
	if got := wait(t, e, h); got != want {
		t.Errorf("Wait = %+v, want %+v", got, want)
	}
	if alive, got, err := inspect(e, h); alive || got != want || err != nil {
		t.Errorf("Inspect = %v, %+v, %v; want false, %+v, nil", alive, got, err, want)
	}
}

// TestRecoveredHandle uses a handle from another Executor, as a restarted
// server does: Wait polls instead of reaping a child.
func TestRecoveredHandle(t *testing.T) {
	stateDir := t.TempDir()
	a := newExecutor(t, stateDir)

	t.Run("real exit code", func(t *testing.T) {
		task := newTask(t, "sh", "-c", untilGo+"; exit 7")
		h := start(t, a, task)
		b := newExecutor(t, stateDir)
		if alive, st, err := inspect(b, h); !alive || err != nil {
			t.Fatalf("Inspect = %v, %+v, %v; want alive", alive, st, err)
		}
		release(t, task.Workdir)
		if got, want := wait(t, b, h), (trainyard.ExitStatus{Code: 7}); got != want {
			t.Errorf("Wait = %+v, want %+v", got, want)
		}
	})

	t.Run("shim killed is lost", func(t *testing.T) {
		task := newTask(t, "sleep", "100")
		h := start(t, a, task)
		s, _ := decodeHandle(h)
		syscall.Kill(s.ShimPID, syscall.SIGKILL)
		b := newExecutor(t, stateDir)
		eventually(t, "the shim gone", func() bool { return !running(s.ShimPID, s.ShimStart) })
		for _, e := range []*Executor{a, b} {
			if alive, st, err := inspect(e, h); !alive || err != nil {
				t.Errorf("Inspect of a job that outlived its shim = %v, %+v, %v; want alive", alive, st, err)
			}
		}
		if err := b.Signal(ctx, h, trainyard.SIGKILL); err != nil {
			t.Fatal(err)
		}
		for _, e := range []*Executor{a, b} {
			if got := wait(t, e, h); got != (trainyard.ExitStatus{Lost: true}) {
				t.Errorf("Wait = %+v, want Lost", got)
			}
			if alive, got, err := inspect(e, h); alive || !got.Lost || err != nil {
				t.Errorf("Inspect = %v, %+v, %v; want false, Lost, nil", alive, got, err)
			}
		}
	})

	t.Run("wait honours its context", func(t *testing.T) {
		task := newTask(t, "sh", "-c", untilGo)
		h := start(t, a, task)
		defer kill(t, a, h)
		for _, e := range []*Executor{a, newExecutor(t, stateDir)} {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
			_, err := e.Wait(ctx, h)
			cancel()
			if err != context.DeadlineExceeded {
				t.Errorf("Wait = %v, want %v", err, context.DeadlineExceeded)
			}
		}
	})
}

func TestPIDReuseGuard(t *testing.T) {
	e := newExecutor(t, t.TempDir())
	task := newTask(t, "sh", "-c", untilGo)
	h := start(t, e, task)
	defer kill(t, e, h)
	s, _ := decodeHandle(h)

	tests := []struct {
		name   string
		modify func(*state)
	}{
		{"both reused", func(s *state) { s.ShimStart++; s.Start++ }},
		{"job reused", func(s *state) { s.Start++ }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := s
			tt.modify(&other)
			stale := trainyard.Handle(other.encode())
			if tt.name == "both reused" {
				if alive, _, _ := inspect(e, stale); alive {
					t.Error("Inspect of a stale handle says alive")
				}
			}
			if err := e.Signal(ctx, stale, trainyard.SIGKILL); err != nil {
				t.Errorf("Signal = %v, want nil", err)
			}
			time.Sleep(20 * time.Millisecond) // a wrongly sent SIGKILL would be delivered by now
			if ts, _ := e.Inspect(ctx, h); ts.Phase != trainyard.PhaseRunning {
				t.Fatal("Signal with a stale handle killed the job")
			}
		})
	}
}

func TestBadHandle(t *testing.T) {
	e := newExecutor(t, t.TempDir())
	for _, state := range []string{"", "{", `{"v":1}`, `{"v":2,"shim_pid":1,"pid":1,"exit_file":"x"}`} {
		h := trainyard.Handle(state)
		if _, _, err := inspect(e, h); !trainyard.IsCode(err, trainyard.EINVALID) {
			t.Errorf("Inspect(%q) = %v, want EINVALID", state, err)
		}
		if _, err := e.Wait(context.Background(), h); !trainyard.IsCode(err, trainyard.EINVALID) {
			t.Errorf("Wait(%q) = %v, want EINVALID", state, err)
		}
		if err := e.Signal(ctx, h, trainyard.SIGTERM); !trainyard.IsCode(err, trainyard.EINVALID) {
			t.Errorf("Signal(%q) = %v, want EINVALID", state, err)
		}
	}
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // in the error
	}{
		{"empty", Config{}, []string{"ShimCommand", "StateDir"}},
		{"shim not found", Config{ShimCommand: []string{"trainyard-no-such-shim"}, StateDir: t.TempDir()}, []string{"ShimCommand", "trainyard-no-such-shim"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := New(tt.cfg)
			if !trainyard.IsCode(err, trainyard.EINVALID) {
				t.Fatalf("New = %v, want EINVALID", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(trainyard.ErrorMessage(err), w) {
					t.Errorf("error %q does not name %s", trainyard.ErrorMessage(err), w)
				}
			}
		})
	}
}

func TestRemove(t *testing.T) {
	e := newExecutor(t, t.TempDir())
	task := newTask(t, "sh", "-c", untilGo)
	h := start(t, e, task)
	if err := e.Cleanup(ctx, h); !trainyard.IsCode(err, trainyard.ECONFLICT) {
		t.Errorf("Remove while running = %v, want ECONFLICT", err)
	}
	release(t, task.Workdir)
	wait(t, e, h)
	for range 2 {
		if err := e.Cleanup(ctx, h); err != nil {
			t.Errorf("Remove = %v", err)
		}
	}
	if _, st, _ := inspect(e, h); !st.Lost {
		t.Errorf("Inspect after Remove = %+v, want Lost", st)
	}
}

func TestStartCanceled(t *testing.T) {
	e := newExecutor(t, t.TempDir())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Start(ctx, newTask(t, "true")); err != context.Canceled {
		t.Errorf("Start = %v, want %v", err, context.Canceled)
	}
}

func TestBrokenShim(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "shim.pid")
	tests := []struct {
		name string
		shim []string
		want string
	}{
		{"exits without answering", []string{"false"}, "without answering"},
		{"never answers", []string{"sh", "-c", "echo $$ > " + pidFile + "; sleep 100"}, "no answer"},
	}
	defer func(d time.Duration) { startTimeout = d }(startTimeout)
	startTimeout = 200 * time.Millisecond
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := New(Config{ShimCommand: tt.shim, StateDir: t.TempDir(), Node: trainyard.Node{Name: testNode}})
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Start(context.Background(), newTask(t, "true"))
			if !trainyard.IsCode(err, trainyard.EINTERNAL) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Start = %v, want an internal error saying %q", err, tt.want)
			}
		})
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	eventually(t, "the silent shim and its child killed", func() bool { return len(groupMembers(t, pid)) == 0 })
}

// The shim records the task's handle before it answers Start: a server
// killed after the job started, before it read the answer or wrote the
// handle itself, still finds the task (Recover) and does not start the
// job again.
func TestShimRecordsTheHandleBeforeItAnswers(t *testing.T) {
	stateDir := t.TempDir()
	task := newTask(t, "sleep", "100")
	exitFile := filepath.Join(stateDir, exitFileName(task.TaskRef))
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	layout := launch.Layout{Launch: trainyard.LaunchNone, Nodes: 1, ProcsPerNode: 1, MasterAddr: "127.0.0.1", RunID: task.JobID}
	cmd := exec.Command(os.Args[0], append([]string{"__shim"}, shimOptions{ExitFile: exitFile, Workdir: task.Workdir, Layout: layout, RankLog: task.LogPath}.args(task.Command)...)...)
	cmd.Env, cmd.ExtraFiles = task.Env, []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	a := readAnswer(r) // and nothing more of what Start does
	if a.err != nil || a.pid <= 0 {
		t.Fatalf("shim answered %+v", a)
	}
	defer func() { syscall.Kill(-a.pid, syscall.SIGKILL); cmd.Wait() }()
	h, err := newExecutor(t, stateDir).Recover(ctx, task.TaskRef)
	if err != nil {
		t.Fatalf("Recover after the answer alone: %v", err)
	}
	if s, err := decodeHandle(h); err != nil || s.PID != a.pid || s.ShimPID != cmd.Process.Pid || s.ExitFile != exitFile {
		t.Fatalf("recovered handle %+v (%v); want job %d, shim %d", s, err, a.pid, cmd.Process.Pid)
	}
}

// A server can die after it asked a shim to start a job and before the
// shim recorded the handle; a server recovering the job then finds no
// handle. Recover tells a start no shim took (it gives it up, and the
// shim that comes later starts nothing: the job may be queued again) from
// one a shim took (under way: ask again), so the job never runs twice.
func TestRecoverGivesUpAStartNoShimTook(t *testing.T) {
	stateDir := t.TempDir()
	x := newExecutor(t, stateDir)
	task := newTask(t, "sh", "-c", "echo ran > "+filepath.Join(stateDir, "ran"))
	exitFile := filepath.Join(stateDir, exitFileName(task.TaskRef))

	// Taken by its shim, no handle yet: under way.
	if err := os.WriteFile(claimedFile(exitFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Recover(ctx, task.TaskRef); !trainyard.IsCode(err, trainyard.EUNAVAILABLE) {
		t.Fatalf("Recover of a start a shim took: %v; want EUNAVAILABLE (ask again)", err)
	}
	os.Remove(claimedFile(exitFile))

	// Asked for, not taken: Recover gives it up...
	if err := os.WriteFile(startingFile(exitFile), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := x.Recover(ctx, task.TaskRef); !trainyard.IsCode(err, trainyard.ENOTFOUND) {
		t.Fatalf("Recover of a start no shim took: %v; want ENOTFOUND", err)
	}
	// ...and the shim that was on its way starts nothing.
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	layout := launch.Layout{Launch: trainyard.LaunchNone, Nodes: 1, ProcsPerNode: 1, MasterAddr: "127.0.0.1", RunID: task.JobID}
	cmd := exec.Command(os.Args[0], append([]string{"__shim"}, shimOptions{ExitFile: exitFile, Workdir: task.Workdir, Layout: layout, RankLog: task.LogPath,
		Claim: startingFile(exitFile)}.args(task.Command)...)...)
	cmd.Env, cmd.ExtraFiles = task.Env, []*os.File{w}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	a := readAnswer(r)
	cmd.Wait()
	if a.msg == "" || a.pid != 0 || !strings.Contains(a.msg, "start given up") {
		t.Fatalf("the late shim answered %+v; want an error and no job", a)
	}
	if _, err := os.Stat(filepath.Join(stateDir, "ran")); err == nil {
		t.Fatal("the late shim ran the job")
	}
	if _, err := os.Stat(handleFile(exitFile)); err == nil {
		t.Fatal("the late shim recorded a handle")
	}
}
