package launch

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/trainyard/trainyard"
)

// Flags are the command-line form of a Layout, shared by the local shim
// and by `trainyard __launch`, which engines run once per node:
//
//	--launch none|torchrun --nnodes N --nproc P
//	--node-rank R | --node-rank-env VAR      (e.g. SLURM_NODEID, JOB_COMPLETION_INDEX)
//	--master-addr A | --master-addr-env VAR
//	--master-port P                           (0: a free port here, for a one-node job)
//	--gpus 0,1 | --gpus none                  (omitted: leave CUDA_VISIBLE_DEVICES alone)
//	--rank-log /path/RUN.log                  (rank N's own output in /path/RUN.rank-N.log)
//	--run-id ID --grace 5s
type Flags struct {
	launch, masterAddr, masterAddrEnv, nodeRankEnv, gpus, runID string
	nnodes, nproc, nodeRank, masterPort                         int
	RankLog                                                     string
	Grace                                                       time.Duration
}

// Register adds the flags to fs.
func (f *Flags) Register(fs *flag.FlagSet) {
	fs.StringVar(&f.launch, "launch", "none", "none or torchrun")
	fs.IntVar(&f.nnodes, "nnodes", 1, "nodes of the job")
	fs.IntVar(&f.nproc, "nproc", 1, "processes (ranks) on this node")
	fs.IntVar(&f.nodeRank, "node-rank", 0, "this node's rank")
	fs.StringVar(&f.nodeRankEnv, "node-rank-env", "", "read the node rank from this environment variable")
	fs.StringVar(&f.masterAddr, "master-addr", "", "rank 0's address")
	fs.StringVar(&f.masterAddrEnv, "master-addr-env", "", "read the master address from this variable (a Slurm node list is expanded to its first host)")
	fs.IntVar(&f.masterPort, "master-port", 0, "rank 0's port; 0 picks a free one (one-node jobs only)")
	fs.StringVar(&f.gpus, "gpus", "", "this node's GPU indices, comma-separated, or none")
	fs.StringVar(&f.RankLog, "rank-log", "", "the run's log path; rank N's own output goes next to it")
	fs.StringVar(&f.runID, "run-id", "", "the job's id (TORCHELASTIC_RUN_ID)")
	fs.DurationVar(&f.Grace, "grace", 5*time.Second, "after one rank fails: SIGTERM to the others, SIGKILL after this")
}

// Args returns the flags that give l to Register's parser.
func Args(l Layout, rankLog string) []string {
	a := []string{"--launch", string(l.Launch), "--nnodes", strconv.Itoa(l.Nodes), "--nproc", strconv.Itoa(l.ProcsPerNode),
		"--node-rank", strconv.Itoa(l.NodeRank), "--master-port", strconv.Itoa(l.MasterPort)}
	if l.MasterAddr != "" {
		a = append(a, "--master-addr", l.MasterAddr)
	}
	if l.GPUs != nil {
		a = append(a, "--gpus", joinInts(l.GPUs))
	}
	if rankLog != "" {
		a = append(a, "--rank-log", rankLog)
	}
	if l.RunID != "" {
		a = append(a, "--run-id", l.RunID)
	}
	return a
}

func joinInts(v []int) string {
	if len(v) == 0 {
		return "none"
	}
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.Itoa(x)
	}
	return strings.Join(s, ",")
}

// Layout resolves the flags, reading variables from getenv, into a
// Layout. A master port of 0 on a one-node job takes a free port here.
func (f *Flags) Layout(getenv func(string) string) (Layout, error) {
	l := Layout{Launch: trainyard.Launch(f.launch), Nodes: f.nnodes, NodeRank: f.nodeRank, ProcsPerNode: f.nproc,
		MasterAddr: f.masterAddr, MasterPort: f.masterPort, RunID: f.runID}
	if f.nodeRankEnv != "" {
		v := getenv(f.nodeRankEnv)
		n, err := strconv.Atoi(v)
		if err != nil {
			return l, fmt.Errorf("node rank from $%s: %q is not a number", f.nodeRankEnv, v)
		}
		l.NodeRank = n
	}
	if f.masterAddrEnv != "" {
		v := getenv(f.masterAddrEnv)
		host, err := FirstHost(v)
		if err != nil {
			return l, fmt.Errorf("master address from $%s: %w", f.masterAddrEnv, err)
		}
		l.MasterAddr = host
	}
	if f.gpus != "" {
		l.GPUs = []int{}
		if f.gpus != "none" {
			for _, s := range strings.Split(f.gpus, ",") {
				g, err := strconv.Atoi(strings.TrimSpace(s))
				if err != nil || g < 0 {
					return l, fmt.Errorf("--gpus %q: want indices such as 0,1 or none", f.gpus)
				}
				l.GPUs = append(l.GPUs, g)
			}
		}
	}
	if l.MasterPort == 0 && l.Nodes == 1 && l.Launch == trainyard.LaunchTorchrun {
		if l.MasterAddr == "" {
			l.MasterAddr = "127.0.0.1"
		}
		p, err := FreePort(l.MasterAddr)
		if err != nil {
			return l, fmt.Errorf("pick a master port: %w", err)
		}
		l.MasterPort = p
	}
	return l, l.Validate()
}

// FreePort returns a TCP port that is free on addr now.
func FreePort(addr string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(addr, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// FirstHost returns the first host of a Slurm node list such as
// "node[1-3,5],gpu7" (→ "node1"), or the list itself when it is one name.
func FirstHost(list string) (string, error) {
	list = strings.TrimSpace(list)
	if list == "" {
		return "", fmt.Errorf("empty host list")
	}
	end, depth := len(list), 0
	for i := 0; i < len(list); i++ {
		switch list[i] {
		case '[':
			depth++
		case ']':
			depth--
		case ',':
			if depth == 0 && end == len(list) {
				end = i
			}
		}
	}
	first := list[:end]
	b := strings.IndexByte(first, '[')
	if b < 0 {
		return first, nil
	}
	e := strings.IndexByte(first[b:], ']')
	if e < 0 {
		return "", fmt.Errorf("host list %q: unclosed [", list)
	}
	inner := first[b+1 : b+e]
	lo, _, _ := strings.Cut(inner, ",")
	lo, _, _ = strings.Cut(lo, "-")
	if lo == "" {
		return "", fmt.Errorf("host list %q: empty range", list)
	}
	return first[:b] + lo + first[b+e+1:], nil
}

// Main is `trainyard __launch FLAGS -- COMMAND...`: it runs this node's
// ranks of a job and exits with the first failing rank's code (128+signal
// for a signal). SIGTERM, SIGINT and SIGHUP are passed on to every rank.
// It is what an engine runs on each node (an srun task, a pod's command);
// on this machine the shim does the same in-process.
func Main(args []string) int {
	fs := flag.NewFlagSet("__launch", flag.ContinueOnError)
	var f Flags
	f.Register(fs)
	workdir := fs.String("workdir", "", "run the command in this directory")
	exitDir := fs.String("exit-dir", "", "when the ranks have ended, write how to DIR/node-N.json (see ExitRecord)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	l, err := f.Layout(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "trainyard __launch: %v\n", err)
		return 2
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	var rankLog func(int) string
	if f.RankLog != "" {
		rankLog = func(r int) string { return trainyard.RankLogPath(f.RankLog, r) }
	}
	record := func(st Status) {
		if *exitDir == "" {
			return
		}
		r := ExitRecord{Node: l.NodeRank, Code: st.Code, Signal: st.Signal, Rank: st.Rank, Reason: st.Reason, At: time.Now().UTC()}
		if err := WriteExit(*exitDir, r); err != nil {
			fmt.Fprintf(os.Stderr, "trainyard: record node %d's exit: %v\n", l.NodeRank, err)
		}
	}
	n, err := Start(Config{Layout: l, Command: fs.Args(), Env: os.Environ(), Dir: *workdir, Output: os.Stdout, RankLog: rankLog})
	if err != nil {
		fmt.Fprintf(os.Stderr, "trainyard: %v\n", err)
		record(Status{Code: 127, Rank: l.Rank(0), Reason: err.Error()})
		return 127
	}
	go func() {
		for s := range sigs {
			syscall.Kill(-n.Leader, s.(syscall.Signal))
		}
	}()
	st := n.Wait(f.Grace)
	if st.Reason != "" {
		fmt.Fprintf(os.Stderr, "trainyard: %s\n", st.Reason)
	}
	record(st)
	return st.Code
}
