package cli

import (
	"bufio"
	"crypto/rand"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/trainyard/trainyard"
	"github.com/trainyard/trainyard/client"
)

// Users, tokens, the audit log and whoami.

func userCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "user",
		Short: "Add, list and remove users, and give them roles per project",
		Long: `Users log in to the web UI and own the jobs and runs they create; each has a
role per project:

  viewer   reads runs, jobs, metrics, logs and artifacts
  member   also creates runs and jobs, and changes and cancels their own
  admin    also changes and cancels anyone's, renames or deletes the project,
           and gives roles in it

A server admin (--admin) manages users and tokens, reads the audit log, and
is an admin in every project. A server with no users lets everyone in (on
loopback, by default); adding the first user, who must be a server admin,
turns access control on: from then on every request needs a token.`,
	}
	cmd.AddCommand(userAddCmd(e), userLsCmd(e), userRmCmd(e), userRoleCmd(e), userPasswdCmd(e))
	return cmd
}

// rolesFrom turns --role and --project into bindings: the role in each
// project, or in every project ("*") when none is named.
func rolesFrom(role string, projects []string) (map[string]string, error) {
	if role == "" {
		if len(projects) > 0 {
			return nil, usagef("--project needs --role (viewer, member or admin)")
		}
		return nil, nil
	}
	if _, err := trainyard.ParseRole("--role", role); err != nil {
		return nil, usagef("--role %q: want viewer, member, admin or none", role)
	}
	if len(projects) == 0 {
		projects = []string{trainyard.AllProjects}
	}
	out := map[string]string{}
	for _, p := range projects {
		if err := trainyard.ValidateRoleProject("--project", p); err != nil {
			return nil, usagef("%s", trainyard.ErrorMessage(err))
		}
		out[p] = role
	}
	return out, nil
}

// readPassword reads a password from the first line of r.
func readPassword(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	pw := strings.TrimRight(line, "\r\n")
	if pw == "" {
		return "", usagef("--password-stdin: stdin holds no password")
	}
	return pw, nil
}

func userAddCmd(e *env) *cobra.Command {
	var admin, stdin, token, asJSON bool
	var role string
	var projects []string
	cmd := &cobra.Command{
		Use:   "add NAME",
		Short: "Add a user (prints its password, made for it unless given)",
		Long: `Add a user. Without --password-stdin the server makes a password, printed
once. --role with --project (repeatable) gives the role in those projects;
--role alone gives it in every project. --token also prints an API token
for the user (CLI, SDK, MLflow clients).

The first user of a server must be a server admin (--admin); it gets an API
token printed, since from then on the server needs one.`,
		Example: `  trainyard user add root --admin
  trainyard user add alice --role member --project vision --project nlp
  echo "$PASSWORD" | trainyard user add bob --role viewer --password-stdin`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			roles, err := rolesFrom(role, projects)
			if err != nil {
				return err
			}
			n := client.NewUser{Name: args[0], Admin: admin, Roles: roles, Token: token}
			if stdin {
				if n.Password, err = readPassword(cmd.InOrStdin()); err != nil {
					return err
				}
			}
			added, err := e.client.AddUser(ctxOf(cmd), n)
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.out, added)
			}
			fmt.Fprintf(e.out, "added user %s%s\n", added.User.Name, describeRoles(added.User))
			if added.Password != "" {
				fmt.Fprintf(e.out, "password: %s\n  (shown once: pass it on to %s, who can change it with `trainyard user passwd %s`)\n", added.Password, added.User.Name, added.User.Name)
			}
			if added.Secret != "" {
				fmt.Fprintf(e.out, "API token %s for %s (shown once):\n  export TRAINYARD_TOKEN=%s\n", added.Token.ID, added.User.Name, added.Secret)
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&admin, "admin", false, "a server admin: manages users and tokens, admin in every project")
	fl.StringVar(&role, "role", "", "viewer, member or admin, in the --project projects (every project without one)")
	fl.StringSliceVar(&projects, "project", nil, "a project the --role applies in (repeatable)")
	fl.BoolVar(&stdin, "password-stdin", false, "read the password from the first line of stdin")
	fl.BoolVar(&token, "token", false, "also make an API token for the user and print it")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func describeRoles(u *trainyard.User) string {
	var parts []string
	if u.Admin {
		parts = append(parts, "server admin")
	}
	for _, p := range trainyard.SortedKeys(u.Roles) {
		where := "project " + p
		if p == trainyard.AllProjects {
			where = "every project"
		}
		parts = append(parts, fmt.Sprintf("%s in %s", u.Roles[p], where))
	}
	if len(parts) == 0 {
		return " (no roles yet: `trainyard user role` gives some)"
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func userLsCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List users and their roles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			us, err := e.client.Users(ctxOf(cmd))
			if err != nil {
				return err
			}
			if asJSON {
				if us == nil {
					us = []*trainyard.User{}
				}
				return printJSON(e.out, us)
			}
			if len(us) == 0 {
				fmt.Fprintln(e.errOut, "no users: the server lets everyone in on its address; `trainyard user add NAME --admin` adds the first")
				return nil
			}
			tw := table(e.out)
			fmt.Fprintln(tw, "NAME\tADMIN\tROLES\tCREATED")
			for _, u := range us {
				var roles []string
				for _, p := range trainyard.SortedKeys(u.Roles) {
					roles = append(roles, p+"="+string(u.Roles[p]))
				}
				admin := ""
				if u.Admin {
					admin = "yes"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s ago\n", u.Name, admin, strings.Join(roles, " "), ago(e.now().Sub(u.CreatedAt)))
			}
			return tw.Flush()
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func userRmCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "rm NAME...",
		Short: "Remove users and their tokens (what they own keeps their name)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, name := range args {
				if err := e.client.DeleteUser(ctxOf(cmd), name); err != nil {
					return err
				}
				fmt.Fprintf(e.out, "removed user %s\n", name)
			}
			return nil
		},
	}
}

func userRoleCmd(e *env) *cobra.Command {
	var role string
	var projects []string
	var admin string
	cmd := &cobra.Command{
		Use:   "role NAME",
		Short: "Give a user a role in projects (none takes it away), or make them a server admin",
		Long: `Set a user's role in the --project projects (repeatable; every project when
none is named): viewer, member, admin, or none to take the role away.
--admin=true or --admin=false makes or unmakes a server admin. A project's
admin may give roles in that project; everything else needs a server admin.`,
		Example: `  trainyard user role alice --role admin --project vision
  trainyard user role bob --role none --project vision
  trainyard user role carol --admin=true`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			roles, err := rolesFrom(role, projects)
			if err != nil {
				return err
			}
			var adm *bool
			switch admin {
			case "":
			case "true", "false":
				b := admin == "true"
				adm = &b
			default:
				return usagef("--admin %q: want true or false", admin)
			}
			if roles == nil && adm == nil {
				return usagef("say what to change: --role (with --project) or --admin")
			}
			u, err := e.client.SetRoles(ctxOf(cmd), args[0], roles, adm)
			if err != nil {
				return err
			}
			fmt.Fprintf(e.out, "%s%s\n", u.Name, describeRoles(u))
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&role, "role", "", "viewer, member, admin, or none")
	fl.StringSliceVar(&projects, "project", nil, "a project the role applies in (repeatable; default every project)")
	fl.StringVar(&admin, "admin", "", "true or false: whether the user is a server admin")
	return cmd
}

func userPasswdCmd(e *env) *cobra.Command {
	var stdin bool
	cmd := &cobra.Command{
		Use:   "passwd NAME",
		Short: "Set a user's password (your own, or anyone's as a server admin)",
		Long: `Set a user's password, read from the first line of stdin with
--password-stdin, or made here at random and printed once. Sessions and
tokens stay valid.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			pw, made := "", false
			if stdin {
				var err error
				if pw, err = readPassword(cmd.InOrStdin()); err != nil {
					return err
				}
			} else {
				pw, made = madePassword(), true
			}
			if err := e.client.SetPassword(ctxOf(cmd), args[0], pw); err != nil {
				return err
			}
			if made {
				fmt.Fprintf(e.out, "password of %s: %s\n  (shown once)\n", args[0], pw)
			} else {
				fmt.Fprintf(e.out, "password of %s changed\n", args[0])
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&stdin, "password-stdin", false, "read the password from the first line of stdin")
	return cmd
}

// madePassword is a random password: 20 letters and digits that cannot
// be mistaken for one another, 116 bits.
func madePassword() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789"
	out := make([]byte, 0, 20)
	var b [32]byte
	for len(out) < 20 {
		rand.Read(b[:])
		for _, c := range b {
			if int(c) < 256-256%len(alphabet) && len(out) < 20 {
				out = append(out, alphabet[int(c)%len(alphabet)])
			}
		}
	}
	return string(out)
}

func tokenCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make, list and revoke API tokens (TRAINYARD_TOKEN, MLFLOW_TRACKING_TOKEN)",
		Long: `API tokens let the CLI (TRAINYARD_TOKEN), the Python SDK (TRAINYARD_TOKEN) and
MLflow clients (MLFLOW_TRACKING_TOKEN, or MLFLOW_TRACKING_USERNAME with the
token as MLFLOW_TRACKING_PASSWORD) act as a user. A token is shown once,
when made; the server keeps only its SHA-256. Jobs get a token of their own
that writes only their run and ends with them.`,
	}
	cmd.AddCommand(tokenCreateCmd(e), tokenLsCmd(e), tokenRevokeCmd(e))
	return cmd
}

// parseExpiry reads --expires: a duration ("90d", "12h") or "never".
func parseExpiry(s string) (time.Duration, error) {
	if s == "never" || s == "0" {
		return 0, nil
	}
	d, err := trainyard.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, usagef("--expires %q: want a duration such as 90d, 12h, 30m, or never", s)
	}
	return time.Duration(d), nil
}

func tokenCreateCmd(e *env) *cobra.Command {
	var user, name, role, project, expires string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Make an API token (printed once)",
		Long: `Make an API token for yourself, or (as a server admin) for --user. --project
limits it to one project and --role caps the role it acts with (a viewer
token of an admin only reads). It expires after --expires (default 90d;
"never" for none).`,
		Example: `  trainyard token create --name laptop
  trainyard token create --user ci --project vision --role member --expires 30d
  export TRAINYARD_TOKEN=$(trainyard token create --name script --json | jq -r .secret)`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ttl, err := parseExpiry(expires)
			if err != nil {
				return err
			}
			if role != "" {
				if r, err := trainyard.ParseRole("--role", role); err != nil || r == trainyard.RoleNone {
					return usagef("--role %q: want viewer, member or admin", role)
				}
			}
			if project != "" {
				if err := trainyard.ValidateProject("--project", project); err != nil {
					return usagef("%s", trainyard.ErrorMessage(err))
				}
			}
			t, secret, err := e.client.CreateToken(ctxOf(cmd), client.TokenRequest{User: user, Name: name, Project: project, Role: role, ExpiresIn: ttl})
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.out, map[string]any{"token": t, "secret": secret})
			}
			fmt.Fprintf(e.errOut, "token %s for %s%s, %s (shown once):\n", t.ID, t.User, tokenLimits(t), expiry(t, e.now()))
			fmt.Fprintln(e.out, secret)
			return nil
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&user, "user", "", "the user it is for (default: you)")
	fl.StringVar(&name, "name", "", "what it is for, shown in `token ls`")
	fl.StringVar(&project, "project", "", "limit it to this project")
	fl.StringVar(&role, "role", "", "cap the role it acts with: viewer, member or admin")
	fl.StringVar(&expires, "expires", "90d", "how long it lasts: 90d, 12h, ... or never")
	fl.BoolVar(&asJSON, "json", false, "print JSON (with the secret)")
	return cmd
}

func tokenLimits(t *trainyard.Token) string {
	var parts []string
	if t.Project != "" {
		parts = append(parts, "project "+t.Project)
	}
	if t.Role != "" {
		parts = append(parts, "at most "+string(t.Role))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func expiry(t *trainyard.Token, now time.Time) string {
	switch {
	case !t.RevokedAt.IsZero():
		return "revoked " + ago(now.Sub(t.RevokedAt)) + " ago"
	case t.ExpiresAt.IsZero():
		return "never expires"
	case !now.Before(t.ExpiresAt):
		return "expired " + ago(now.Sub(t.ExpiresAt)) + " ago"
	}
	return "expires in " + ago(t.ExpiresAt.Sub(now))
}

func tokenLsCmd(e *env) *cobra.Command {
	var user string
	var all, asJSON bool
	cmd := &cobra.Command{
		Use:   "ls",
		Short: "List API tokens and sessions: yours, or --user's (server admins)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			ts, err := e.client.Tokens(ctxOf(cmd), user, all)
			if err != nil {
				return err
			}
			if asJSON {
				if ts == nil {
					ts = []*trainyard.Token{}
				}
				return printJSON(e.out, ts)
			}
			if len(ts) == 0 {
				fmt.Fprintln(e.errOut, "no tokens; `trainyard token create` makes one")
				return nil
			}
			tw := table(e.out)
			fmt.Fprintln(tw, "ID\tUSER\tKIND\tNAME\tPREFIX\tLIMITS\tCREATED\tEXPIRES")
			for _, t := range ts {
				limits := strings.TrimSuffix(strings.TrimPrefix(tokenLimits(t), " ("), ")")
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s…\t%s\t%s ago\t%s\n", t.ID, t.User, t.Kind, truncate(t.Name, 24), t.Prefix, limits, ago(e.now().Sub(t.CreatedAt)), expiry(t, e.now()))
			}
			return tw.Flush()
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&user, "user", "", "another user's tokens (server admins)")
	fl.BoolVar(&all, "all", false, "also revoked and expired ones")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func tokenRevokeCmd(e *env) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID...",
		Short: "Revoke tokens: they stop working at once",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			for _, id := range args {
				t, err := e.client.RevokeToken(ctxOf(cmd), id)
				if err != nil {
					return err
				}
				fmt.Fprintf(e.out, "revoked token %s of %s\n", t.ID, t.User)
			}
			return nil
		},
	}
}

func auditCmd(e *env) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "The audit log: who changed what, when"}
	var actor, project, action, since string
	var limit int
	var asJSON bool
	ls := &cobra.Command{
		Use:   "ls",
		Short: "List audit entries, newest first",
		Long: `List audit entries, newest first: jobs submitted and canceled, runs created,
ended, deleted and restored, projects, the model registry, users, roles,
tokens, logins. Server admins see everything; a project's admin sees the
project's entries. --action takes an action (job.cancel) or a family
ending in a dot (job.); --since a duration back from now (24h, 7d) or a
time (2026-01-02T15:04:05Z).`,
		Example: "  trainyard audit ls --since 24h\n  trainyard audit ls --actor alice --action job.",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			f := trainyard.AuditFilter{Actor: actor, Project: project, Action: action, Limit: limit}
			if since != "" {
				if d, err := trainyard.ParseDuration(since); err == nil {
					f.Since = e.now().Add(-time.Duration(d))
				} else if t, err := time.Parse(time.RFC3339, since); err == nil {
					f.Since = t
				} else {
					return usagef("--since %q: want a duration such as 24h or 7d, or a time such as 2026-01-02T15:04:05Z", since)
				}
			}
			es, err := e.client.Audit(ctxOf(cmd), f)
			if err != nil {
				return err
			}
			if asJSON {
				if es == nil {
					es = []*trainyard.AuditEntry{}
				}
				return printJSON(e.out, es)
			}
			if len(es) == 0 {
				fmt.Fprintln(e.errOut, "no audit entries match")
				return nil
			}
			tw := table(e.out)
			fmt.Fprintln(tw, "TIME\tACTOR\tACTION\tTARGET\tPROJECT\tDETAIL")
			for _, a := range es {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", a.Time.Local().Format("2006-01-02 15:04:05"), a.Actor, a.Action, a.Target, a.Project, truncate(a.Detail, 60))
			}
			return tw.Flush()
		},
	}
	fl := ls.Flags()
	fl.StringVar(&actor, "actor", "", "only this actor's entries")
	fl.StringVar(&project, "project", "", "only this project's")
	fl.StringVar(&action, "action", "", "only this action (job.cancel) or family (job.)")
	fl.StringVar(&since, "since", "", "only entries since a duration ago (24h, 7d) or a time")
	fl.IntVar(&limit, "limit", 100, "at most this many")
	fl.BoolVar(&asJSON, "json", false, "print JSON")
	cmd.AddCommand(ls)
	return cmd
}

func whoamiCmd(e *env) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "whoami",
		Short: "Who the server takes you for, and your roles",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			me, err := e.client.WhoAmI(ctxOf(cmd))
			if err != nil {
				return err
			}
			if asJSON {
				return printJSON(e.out, me)
			}
			switch {
			case me.Mode == "open":
				fmt.Fprintln(e.out, "the server has no users: everyone it lets in may do anything")
				return nil
			case me.Via == "token" && me.User == "":
				fmt.Fprintln(e.out, "the server's shared token (--token): a server admin")
				return nil
			case me.RunID != "":
				fmt.Fprintf(e.out, "the token of job %s (owner %s): writes only its run\n", me.RunID, orNone(me.User))
				return nil
			}
			what := me.User
			if me.Admin {
				what += ", server admin"
			}
			fmt.Fprintf(e.out, "%s (by %s)\n", what, me.Via)
			if me.Project != "" || me.MaxRole != "" {
				fmt.Fprintf(e.out, "this token is limited to%s%s\n", ifSet(" project ", me.Project), ifSet(" at most ", me.MaxRole))
			}
			projects := make([]string, 0, len(me.Roles))
			for p := range me.Roles {
				projects = append(projects, p)
			}
			sort.Strings(projects)
			for _, p := range projects {
				where := p
				if p == trainyard.AllProjects {
					where = "every project"
				}
				fmt.Fprintf(e.out, "  %s: %s\n", where, me.Roles[p])
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func ifSet(prefix, v string) string {
	if v == "" {
		return ""
	}
	return prefix + v
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}
