package main

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/executor/local"
)

// launchCommand is the hidden subcommand an engine runs on each node of a
// job: `trainyard __launch FLAGS -- COMMAND` (package launch).
const launchCommand = "__launch"

// An executorKind is one value of `trainyard up --executor`: its settings
// (flags, each also a TRAINYARD_* variable and a config-file key) and how
// to build it. Each kind registers itself from a file of its own
// (exec_*.go), so that adding an engine touches nothing else here.
type executorKind struct {
	name  string
	help  string                                                          // one line for `up --help`
	flags func(fs *pflag.FlagSet)                                         // its settings, named --NAME-...
	build func(ctx context.Context, w wiring) (trainyard.Executor, error) // after flags are parsed
	// elsewhere: jobs run in another environment (a container image), so
	// they get none of the server's environment variables, only their own
	// and trainyard's.
	elsewhere bool
}

// wiring is what `trainyard up` knows that an executor may need.
type wiring struct {
	Data    string            // the data directory
	Self    string            // this binary, for shims and launchers
	Machine trainyard.Machine // this machine, as discovered
	Logger  *slog.Logger
}

var executorKinds = map[string]executorKind{}

func registerExecutor(k executorKind) {
	if _, dup := executorKinds[k.name]; dup {
		panic("executor " + k.name + " registered twice")
	}
	executorKinds[k.name] = k
}

func sortedKinds() []string {
	names := make([]string, 0, len(executorKinds))
	for n := range executorKinds {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func executorNames() string { return strings.Join(sortedKinds(), ", ") }

// executorHelp lists the executors for `up --help`.
func executorHelp() string {
	var b strings.Builder
	for _, n := range sortedKinds() {
		fmt.Fprintf(&b, "  %-12s %s\n", n, executorKinds[n].help)
	}
	return b.String()
}

func buildExecutor(ctx context.Context, name string, w wiring) (trainyard.Executor, error) {
	k, ok := executorKinds[name]
	if !ok {
		return nil, fmt.Errorf("--executor %q: want one of %s", name, executorNames())
	}
	e, err := k.build(ctx, w)
	if err != nil {
		return nil, fmt.Errorf("--executor %s: %w", name, err)
	}
	return e, nil
}

func init() {
	var cgroups string
	registerExecutor(executorKind{
		name: "local",
		help: "run jobs as processes on this machine (the default)",
		flags: func(fs *pflag.FlagSet) {
			fs.StringVar(&cgroups, "cgroups", env(flagEnv("cgroups"), "auto"), "local executor: enforce each job's --cpus and --mem with control groups: auto (when trainyard may create them; else a warning) or off ("+flagEnv("cgroups")+")")
		},
		build: func(ctx context.Context, w wiring) (trainyard.Executor, error) {
			return local.New(local.Config{
				ShimCommand: []string{w.Self, shimCommand}, StateDir: filepath.Join(w.Data, "state"),
				Node: w.Machine.Node(), Warnings: w.Machine.Warnings, Cgroups: cgroups,
			})
		},
	})
}
