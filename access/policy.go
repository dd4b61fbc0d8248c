package access

import (
	"context"
	"fmt"

	"github.com/trainyard/trainyard"
)

// Action is what a request does to a thing, as the policy sees it.
type Action int

const (
	// Read: runs, jobs, metrics, logs, artifacts, projects. Viewer.
	Read Action = iota + 1
	// Create: new runs, jobs, projects and logged models in a project.
	// Member.
	Create
	// Change: write to or stop a thing that has an owner (a run's
	// metrics, params, tags, state, logs and artifacts; canceling a job;
	// deleting a run). Member for one's own, admin for anyone's.
	Change
	// Manage: rename, delete or restore a project. Admin of the project.
	Manage
	// RegistryWrite: register models and versions, move stages, set
	// aliases and tags. Member of some project.
	RegistryWrite
	// RegistryDelete: delete registered models and versions. Admin of
	// some project.
	RegistryDelete
	// Administer: users, other users' tokens, the whole audit log. Server
	// admin.
	Administer
)

// Resource is the thing an action is on.
type Resource struct {
	// What names it for messages: "job abc123", "run abc123", "project vision".
	What    string
	Project string
	// Owner is the user it belongs to ("" for none: only admins change it).
	Owner string
	// RunID is the run it is part of: a run's own ID, a job's ID (its
	// run's), a logged model's source run. A job's token writes only here.
	RunID string
}

// verbs word each action for messages.
var verbs = map[Action]string{
	Read: "read", Create: "create", Change: "change", Manage: "manage",
	RegistryWrite: "change the model registry", RegistryDelete: "delete from the model registry", Administer: "administer",
}

// Authorize decides whether id may do act to res; verb words the request
// for the message ("cancel", "log metrics to"). It returns nil, or an
// EFORBIDDEN error that says what is missing. It is pure: the whole
// permission matrix is here.
func Authorize(id *trainyard.Identity, verb string, act Action, res Resource) error {
	if verb == "" {
		verb = verbs[act]
	}
	if id == nil {
		return trainyard.Forbidden("%s %s: the request carries no identity", verb, res.What)
	}
	if id.Unlimited() {
		return nil
	}
	if id.RunID != "" && act != Read {
		// A job's token writes its own run and nothing else.
		if (act == Change || act == Create) && res.RunID == id.RunID {
			return nil
		}
		return trainyard.Forbidden("a job's token may only write its own run (%s); to %s %s, use a user's token", id.RunID, verb, res.What)
	}
	switch act {
	case Read, Create, Manage:
		need := map[Action]trainyard.Role{Read: trainyard.RoleViewer, Create: trainyard.RoleMember, Manage: trainyard.RoleAdmin}[act]
		if id.RoleIn(res.Project).Rank() >= need.Rank() {
			return nil
		}
		return trainyard.Forbidden("%s may not %s %s: that needs the %s role in project %s, and %s", id.Actor(), verb, res.What, need, res.Project, has(id, res.Project))
	case Change:
		role := id.RoleIn(res.Project)
		own := res.Owner != "" && res.Owner == id.User
		if role == trainyard.RoleAdmin || (own && role == trainyard.RoleMember) {
			return nil
		}
		if own {
			return trainyard.Forbidden("%s may not %s %s: that needs the member role in project %s, and %s", id.Actor(), verb, res.What, res.Project, has(id, res.Project))
		}
		whose := "nobody's"
		if res.Owner != "" {
			whose = res.Owner + "'s"
		}
		return trainyard.Forbidden("%s may not %s %s: it is %s, and changing another's needs the admin role in project %s; %s", id.Actor(), verb, res.What, whose, res.Project, has(id, res.Project))
	case RegistryWrite, RegistryDelete:
		need := trainyard.RoleMember
		if act == RegistryDelete {
			need = trainyard.RoleAdmin
		}
		if highestRole(id).Rank() >= need.Rank() {
			return nil
		}
		return trainyard.Forbidden("%s may not %s %s: that needs the %s role in some project, and %s has at most %s", id.Actor(), verb, res.What, need, id.Actor(), roleName(highestRole(id)))
	case Administer:
		return trainyard.Forbidden("%s may not %s %s: that needs a server admin (trainyard user add --admin), with a token of no limits", id.Actor(), verb, res.What)
	}
	return trainyard.Forbidden("%s %s: unknown action", verb, res.What)
}

// has words the identity's role in a project for messages.
func has(id *trainyard.Identity, project string) string {
	who := id.Actor()
	if id.Project != "" && id.Project != project {
		return fmt.Sprintf("this token of %s is limited to project %s", who, id.Project)
	}
	r := id.RoleIn(project)
	if id.MaxRole != trainyard.RoleNone && r == id.MaxRole {
		return fmt.Sprintf("this token of %s is limited to the %s role", who, id.MaxRole)
	}
	if r == trainyard.RoleNone {
		return who + " has no role there"
	}
	return fmt.Sprintf("%s is a %s there", who, r)
}

func roleName(r trainyard.Role) string {
	if r == trainyard.RoleNone {
		return "no role"
	}
	return string(r)
}

// highestRole is the identity's highest role in any project, within its
// token's limits.
func highestRole(id *trainyard.Identity) trainyard.Role {
	if id.Project != "" {
		return id.RoleIn(id.Project)
	}
	best := trainyard.RoleNone
	if id.Admin {
		best = trainyard.RoleAdmin
	}
	for _, r := range id.Roles {
		if r.Rank() > best.Rank() {
			best = r
		}
	}
	if id.MaxRole != trainyard.RoleNone {
		best = trainyard.MinRole(best, id.MaxRole)
	}
	return best
}

// Readable returns the projects id may read: all of them (every project,
// existing or not), or the ones listed.
func Readable(id *trainyard.Identity) (all bool, projects []string) {
	if id == nil {
		return false, nil
	}
	if id.Project != "" {
		if id.RoleIn(id.Project).Rank() >= trainyard.RoleViewer.Rank() {
			return false, []string{id.Project}
		}
		return false, nil
	}
	if id.Admin {
		return true, nil
	}
	star := id.Roles[trainyard.AllProjects]
	if id.MaxRole != trainyard.RoleNone {
		star = trainyard.MinRole(star, id.MaxRole)
	}
	if star.Rank() >= trainyard.RoleViewer.Rank() {
		return true, nil
	}
	for p, r := range id.Roles {
		if p != trainyard.AllProjects && r.Rank() >= trainyard.RoleViewer.Rank() {
			projects = append(projects, p)
		}
	}
	return false, projects
}

// Sweeps decides for package sweep (sweep.Config.Authorize) whether the
// caller may do what verb says to sw, as jobs are decided: reading needs
// the viewer role in its project; creating one (write, sw not stored yet:
// no ID) the member role, since a sweep starts jobs; changing one (write:
// pause, resume, stop, and ask/tell's suggest and report) needs to own it
// as a member, or the admin role in its project. A sweep with no owner
// (made without users) is changed by admins only. A job's token only
// reads.
func Sweeps(ctx context.Context, verb string, write bool, sw *trainyard.Sweep) error {
	who := trainyard.IdentityFrom(ctx)
	switch {
	case !write:
		return Authorize(who, verb, Read, sweepResource(sw))
	case sw.ID == "":
		return Authorize(who, verb, Create, Resource{What: "project " + sw.Project, Project: sw.Project})
	}
	return Authorize(who, verb, Change, sweepResource(sw))
}

// sweepResource is a sweep as the policy sees it: like a job, not part of
// a run, so that a job's token (a trial's too) does not steer it.
func sweepResource(sw *trainyard.Sweep) Resource {
	return Resource{What: "sweep " + sw.ID, Project: sw.Project, Owner: sw.Owner}
}
