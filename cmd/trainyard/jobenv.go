package main

import (
	"context"
	"sort"
	"strings"

	"github.com/spf13/pflag"

	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/access"
)

// serverVars are the variables that configure `trainyard up` itself: one
// per flag (TRAINYARD_DB, TRAINYARD_TOKEN, ...). They are the server's,
// not a job's: a database URL carries its password.
func serverVars(fs *pflag.FlagSet) map[string]bool {
	vars := map[string]bool{}
	fs.VisitAll(func(f *pflag.Flag) { vars[flagEnv(f.Name)] = true })
	return vars
}

// jobBaseEnv is environ without the server's own configuration
// variables, and the names it left out, sorted.
func jobBaseEnv(environ []string, server map[string]bool) (env, withheld []string) {
	env = make([]string, 0, len(environ))
	for _, kv := range environ {
		k, _, _ := strings.Cut(kv, "=")
		if server[k] {
			withheld = append(withheld, k)
			continue
		}
		env = append(env, kv)
	}
	sort.Strings(withheld)
	return env, withheld
}

// awsCredentials are the variables that hold the S3 artifact store's
// credentials (s3.FromEnv).
var awsCredentials = []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}

// withholdCredentials returns the dispatcher's Withhold: on a server whose
// artifacts are in S3 and that has users, jobs do not get the server's AWS
// credentials (they reach artifacts through the server, as their user).
// Without users the server is one person's (or shares one token with its
// jobs), and the credentials are theirs, so jobs keep them.
func withholdCredentials(ctx context.Context, s3Artifacts bool, mode func(context.Context) (access.Mode, error)) func(*trainyard.Job) []string {
	return func(*trainyard.Job) []string {
		if !s3Artifacts {
			return nil
		}
		m, err := mode(ctx)
		if err != nil || m == access.ModeUsers { // when in doubt, withhold
			return awsCredentials
		}
		return nil
	}
}

// isS3 reports whether an --artifacts value names an S3 bucket.
func isS3(artifacts string) bool { return strings.HasPrefix(artifacts, "s3://") }
