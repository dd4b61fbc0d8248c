// Command trainyard is the whole platform in one binary: `trainyard up`
// starts the server (API, scheduler, local executor, embedded UI) and the
// other commands talk to it.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/trainyard/trainyard/cli"
	"github.com/trainyard/trainyard/executor/local"
	"github.com/trainyard/trainyard/launch"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	// The shim runs each job; it must start fast and touch nothing else.
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case shimCommand:
			os.Exit(local.ShimMain(os.Args[2:]))
		case launchCommand: // one node of a job on an engine (srun, a pod)
			os.Exit(launch.Main(os.Args[2:]))
		}
	}
	root := &cobra.Command{
		Use:           "trainyard",
		Short:         "Queue, run and track training jobs",
		Long:          "trainyard queues, runs and tracks ML training jobs on this machine.\nStart the server with `trainyard up`; the other commands talk to it at TRAINYARD_URL (default " + "http://127.0.0.1:8080).",
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetVersionTemplate("trainyard {{.Version}}\n")
	root.AddCommand(upCmd(), downCmd(), migrateCmd())
	cli.AddCommands(root)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return &cli.UsageError{Msg: fmt.Sprintf("%v (see `%s --help`)", err, c.CommandPath())}
	})
	err := root.ExecuteContext(context.Background())
	if err != nil && isCobraUsage(err) {
		err = &cli.UsageError{Msg: err.Error()}
	}
	os.Exit(cli.Exit(err, os.Stderr))
}

// isCobraUsage recognises cobra's own argument errors.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "accepts ", "requires at least", "unknown flag", "unknown shorthand"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}
