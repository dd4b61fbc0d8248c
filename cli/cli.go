// Package cli is trainyard's command line for people and scripts: human
// tables by default, --json for machines, errors on stderr with a hint, and
// exit codes that mean something (0 ok, 1 error, 2 bad usage; `run --wait`
// exits with the job's own code).
package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"github.com/trainyard/trainyard/client"
)

// ExitError carries an exit code out of a command.
type ExitError struct{ Code int }

func (e *ExitError) Error() string { return fmt.Sprintf("exit status %d", e.Code) }

// UsageError is a mistake on the command line: exit code 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

func usagef(format string, args ...any) error { return &UsageError{fmt.Sprintf(format, args...)} }

// env is what commands share: the client and where output goes.
type env struct {
	client *client.Client
	out    io.Writer
	errOut io.Writer
	now    func() time.Time
}

// AddCommands adds the client commands to root.
func AddCommands(root *cobra.Command) {
	e := &env{out: os.Stdout, errOut: os.Stderr, now: time.Now}
	root.PersistentPreRun = func(cmd *cobra.Command, args []string) {
		e.client = client.FromEnv()
		e.out, e.errOut = cmd.OutOrStdout(), cmd.ErrOrStderr()
	}
	root.AddCommand(runCmd(e), submitCmd(e), psCmd(e), logsCmd(e), cancelCmd(e), gpusCmd(e),
		runsCmd(e), metricsCmd(e), syncCmd(e), versionCmd(e), userCmd(e), tokenCmd(e), auditCmd(e), whoamiCmd(e), sweepCmd(e))
}

// Exit turns an error from a command into a message on stderr and an exit
// code, and returns the code.
func Exit(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ee *ExitError
	if errors.As(err, &ee) {
		return ee.Code
	}
	var ue *UsageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "trainyard: %s\n", ue.Msg)
		return 2
	}
	fmt.Fprintf(stderr, "trainyard: %s\n", err)
	var ce *client.Error
	if errors.As(err, &ce) {
		switch ce.Code {
		case "not_found":
			fmt.Fprintln(stderr, "hint: `trainyard ps --all` and `trainyard runs ls` list what exists")
		case "unauthorized":
			fmt.Fprintln(stderr, "hint: set TRAINYARD_TOKEN to a token of this server: yours (`trainyard token create`, or ask an admin) or its --token")
		case "forbidden":
			fmt.Fprintln(stderr, "hint: `trainyard whoami` shows your roles; a project's admin or a server admin can give more (`trainyard user role`)")
		}
	} else if strings.Contains(err.Error(), "cannot reach trainyard") {
		fmt.Fprintln(stderr, "hint: start the server with `trainyard up`, or point TRAINYARD_URL at it")
	}
	return 1
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

// ago renders a duration for tables: 42s, 5m, 3h, 2d.
func ago(d time.Duration) string {
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func truncate(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func ctxOf(cmd *cobra.Command) context.Context {
	if c := cmd.Context(); c != nil {
		return c
	}
	return context.Background()
}
