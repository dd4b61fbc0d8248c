package executortest

import (
	"fmt"
	"strings"
)

// Script returns a POSIX shell script that does b, for engines that run
// commands: each rank prints b.Output with " rank=$TRAINYARD_RANK", waits
// as b says, and exits with b.ExitCode.
func Script(b Behaviour) string {
	var s []string
	if b.IgnoreTerm {
		s = append(s, `trap "" TERM`)
	}
	if b.Output != "" {
		s = append(s, fmt.Sprintf(`echo "%s rank=$TRAINYARD_RANK"`, b.Output))
	}
	switch {
	case b.Forever:
		// A loop of short sleeps, so that SIGTERM (even trapped) is seen
		// quickly and the shell, not a child, decides what happens.
		s = append(s, `while :; do sleep 0.1; done`)
	case b.RunFor > 0:
		s = append(s, fmt.Sprintf("sleep %.3f", b.RunFor.Seconds()))
	}
	s = append(s, fmt.Sprintf("exit %d", b.ExitCode))
	return strings.Join(s, "; ")
}

// MissingProgram is a program name no machine has.
const MissingProgram = "trainyard-conformance-no-such-program"
