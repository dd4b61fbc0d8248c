package access

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/trainyard/trainyard"
)

// Store returns the store as the APIs see it: every read and write is
// checked against the identity in its context (trainyard.IdentityFrom),
// things created get that identity as their owner, and changes of state
// are recorded in the audit log. A context without an identity is refused
// everything. Both APIs and the tracking service are given this view; the
// dispatcher, which acts for the server, is given the store itself.
//
// Every method of trainyard.Store is written out here, none embedded, so
// that a method added to the interface does not compile until someone
// decides who may call it.
func (s *Service) Store() trainyard.Store { return &guardStore{s: s, inner: s.store} }

type guardStore struct {
	s     *Service
	inner trainyard.Store
}

var _ trainyard.Store = (*guardStore)(nil)

// run checks act on a run for the caller and returns the run (nil for an
// unlimited caller, who is not checked).
func (g *guardStore) run(ctx context.Context, id, verb string, act Action) (*trainyard.Run, error) {
	who := trainyard.IdentityFrom(ctx)
	if who.Unlimited() {
		return nil, nil
	}
	r, err := g.inner.RunHeader(ctx, id)
	if err != nil {
		return nil, err
	}
	return r, Authorize(who, verb, act, runResource(r))
}

func runResource(r *trainyard.Run) Resource {
	return Resource{What: "run " + r.ID, Project: r.Project, Owner: r.Owner, RunID: r.ID}
}

func (g *guardStore) project(ctx context.Context, name, verb string, act Action) error {
	return Authorize(trainyard.IdentityFrom(ctx), verb, act, Resource{What: "project " + name, Project: name})
}

func (g *guardStore) unlimitedOnly(ctx context.Context, what string) error {
	if who := trainyard.IdentityFrom(ctx); !who.Unlimited() {
		return trainyard.Forbidden("%s may not %s through the API's store", who.Actor(), what)
	}
	return nil
}

// Jobs are written by the dispatcher, which holds the store itself.

func (g *guardStore) CreateJob(ctx context.Context, j *trainyard.Job) error {
	if err := g.unlimitedOnly(ctx, "create jobs"); err != nil {
		return err
	}
	return g.inner.CreateJob(ctx, j)
}

func (g *guardStore) UpdateJobs(ctx context.Context, jobs ...*trainyard.Job) error {
	if err := g.unlimitedOnly(ctx, "update jobs"); err != nil {
		return err
	}
	return g.inner.UpdateJobs(ctx, jobs...)
}

func (g *guardStore) Job(ctx context.Context, id string) (*trainyard.Job, error) {
	j, err := g.inner.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	return j, Authorize(trainyard.IdentityFrom(ctx), "read", Read, jobResource(j))
}

func (g *guardStore) Jobs(ctx context.Context, f trainyard.JobFilter) ([]*trainyard.Job, error) {
	f, ok := restrictJobs(trainyard.IdentityFrom(ctx), f)
	if !ok {
		return nil, nil
	}
	return g.inner.Jobs(ctx, f)
}

// restrictJobs limits a job filter to the projects the caller reads; false
// when none are left.
func restrictJobs(who *trainyard.Identity, f trainyard.JobFilter) (trainyard.JobFilter, bool) {
	all, projects := Readable(who)
	if all {
		return f, true
	}
	if len(f.Projects) > 0 {
		projects = slices.DeleteFunc(slices.Clone(f.Projects), func(p string) bool { return !slices.Contains(projects, p) })
	}
	if f.Project != "" && !slices.Contains(projects, f.Project) {
		return f, false
	}
	f.Projects = projects
	return f, len(projects) > 0
}

// jobResource is a job as the policy sees it: not part of a run (its run
// is), so that a job's token, which writes its run, cannot cancel even its
// own job.
func jobResource(j *trainyard.Job) Resource {
	return Resource{What: "job " + j.ID, Project: j.Project, Owner: j.Owner}
}

// Runs.

func (g *guardStore) CreateRun(ctx context.Context, r *trainyard.Run) error {
	who := trainyard.IdentityFrom(ctx)
	if err := Authorize(who, "create runs in", Create, Resource{What: "project " + r.Project, Project: r.Project}); err != nil {
		return err
	}
	r.Owner = who.User
	if err := g.inner.CreateRun(ctx, r); err != nil {
		return err
	}
	g.s.record(ctx, "run.create", "run/"+r.ID, r.Project, "")
	return nil
}

func (g *guardStore) Run(ctx context.Context, id string) (*trainyard.Run, error) {
	r, err := g.inner.Run(ctx, id)
	if err != nil {
		return nil, err
	}
	return r, Authorize(trainyard.IdentityFrom(ctx), "read", Read, runResource(r))
}

func (g *guardStore) RunHeader(ctx context.Context, id string) (*trainyard.Run, error) {
	r, err := g.inner.RunHeader(ctx, id)
	if err != nil {
		return nil, err
	}
	return r, Authorize(trainyard.IdentityFrom(ctx), "read", Read, runResource(r))
}

func (g *guardStore) Runs(ctx context.Context, f trainyard.RunFilter) ([]*trainyard.Run, error) {
	who := trainyard.IdentityFrom(ctx)
	all, projects := Readable(who)
	switch {
	case all:
		return g.inner.Runs(ctx, f)
	case f.Project != "":
		if err := g.project(ctx, f.Project, "list the runs of", Read); err != nil {
			return nil, err
		}
		return g.inner.Runs(ctx, f)
	case len(projects) == 0:
		return nil, nil
	}
	// The runs of several projects, newest first (a search's default
	// order), as Runs lists them.
	q := trainyard.RunSearch{Projects: projects, View: f.View, Offset: f.Offset, Limit: f.Limit}
	if f.State != "" {
		q.Filter = []trainyard.RunClause{{Kind: trainyard.RunAttribute, Key: trainyard.AttrState, Op: "=", Str: string(f.State)}}
	}
	runs, _, err := g.inner.SearchRuns(ctx, q)
	return runs, err
}

func (g *guardStore) UpdateRun(ctx context.Context, id string, u trainyard.RunUpdate) (*trainyard.Run, error) {
	verb := "change"
	if u.State != nil {
		verb = "change the state of"
	}
	if _, err := g.run(ctx, id, verb, Change); err != nil {
		return nil, err
	}
	r, err := g.inner.UpdateRun(ctx, id, u)
	if err != nil {
		return nil, err
	}
	var detail []string
	if u.Name != nil {
		detail = append(detail, fmt.Sprintf("name=%q", *u.Name))
	}
	if u.State != nil {
		detail = append(detail, "state="+string(*u.State))
	}
	if len(detail) > 0 {
		g.s.record(ctx, "run.update", "run/"+id, r.Project, strings.Join(detail, " "))
	}
	return r, nil
}

func (g *guardStore) Projects(ctx context.Context) ([]trainyard.Project, error) {
	ps, err := g.inner.Projects(ctx)
	if err != nil {
		return nil, err
	}
	who := trainyard.IdentityFrom(ctx)
	if all, _ := Readable(who); all {
		return ps, nil
	}
	return slices.DeleteFunc(ps, func(p trainyard.Project) bool { return !canRead(who, p.Name) }), nil
}

func canRead(who *trainyard.Identity, project string) bool {
	return who.RoleIn(project).Rank() >= trainyard.RoleViewer.Rank()
}

// Metrics.

func (g *guardStore) AppendMetrics(ctx context.Context, runID string, batch []trainyard.SeriesPoints) error {
	if _, err := g.run(ctx, runID, "log metrics to", Change); err != nil {
		return err
	}
	return g.inner.AppendMetrics(ctx, runID, batch)
}

func (g *guardStore) AppendMetricsOnce(ctx context.Context, runID, batchID string, batch []trainyard.SeriesPoints) (bool, error) {
	if _, err := g.run(ctx, runID, "log metrics to", Change); err != nil {
		return false, err
	}
	return g.inner.AppendMetricsOnce(ctx, runID, batchID, batch)
}

func (g *guardStore) ReadSeries(ctx context.Context, runID, key string, q trainyard.SeriesQuery) (*trainyard.Series, error) {
	if _, err := g.run(ctx, runID, "read the metrics of", Read); err != nil {
		return nil, err
	}
	return g.inner.ReadSeries(ctx, runID, key, q)
}

// Experiments (projects).

func (g *guardStore) CreateExperiment(ctx context.Context, e *trainyard.Experiment) error {
	if err := g.project(ctx, e.Name, "create", Create); err != nil {
		return err
	}
	if err := g.inner.CreateExperiment(ctx, e); err != nil {
		return err
	}
	g.s.record(ctx, "project.create", "project/"+e.Name, e.Name, "")
	return nil
}

func (g *guardStore) Experiment(ctx context.Context, id string) (*trainyard.Experiment, error) {
	e, err := g.inner.Experiment(ctx, id)
	if err != nil {
		return nil, err
	}
	return e, g.project(ctx, e.Name, "read", Read)
}

func (g *guardStore) ExperimentByName(ctx context.Context, name string) (*trainyard.Experiment, error) {
	if err := g.project(ctx, name, "read", Read); err != nil {
		return nil, err
	}
	return g.inner.ExperimentByName(ctx, name)
}

func (g *guardStore) Experiments(ctx context.Context, view trainyard.View) ([]*trainyard.Experiment, error) {
	es, err := g.inner.Experiments(ctx, view)
	if err != nil {
		return nil, err
	}
	who := trainyard.IdentityFrom(ctx)
	if all, _ := Readable(who); all {
		return es, nil
	}
	return slices.DeleteFunc(es, func(e *trainyard.Experiment) bool { return !canRead(who, e.Name) }), nil
}

func (g *guardStore) UpdateExperiment(ctx context.Context, id string, u trainyard.ExperimentUpdate) (*trainyard.Experiment, error) {
	cur, err := g.inner.Experiment(ctx, id)
	if err != nil {
		return nil, err
	}
	action, detail := "project.tag", ""
	switch {
	case u.Name != nil && *u.Name != cur.Name:
		if err := g.project(ctx, cur.Name, "rename", Manage); err != nil {
			return nil, err
		}
		if err := g.project(ctx, *u.Name, "rename a project to", Manage); err != nil {
			return nil, err
		}
		action, detail = "project.rename", fmt.Sprintf("from=%q to=%q", cur.Name, *u.Name)
	case u.Deleted != nil && *u.Deleted != cur.Deleted:
		verb := "delete"
		if action = "project.delete"; !*u.Deleted {
			verb, action = "restore", "project.restore"
		}
		if err := g.project(ctx, cur.Name, verb, Manage); err != nil {
			return nil, err
		}
	default:
		if err := g.project(ctx, cur.Name, "tag", Create); err != nil {
			return nil, err
		}
	}
	if u.Name != nil && u.Deleted != nil {
		// Both at once: the second needs the same role as the first.
		if err := g.project(ctx, cur.Name, "delete", Manage); err != nil {
			return nil, err
		}
	}
	e, err := g.inner.UpdateExperiment(ctx, id, u)
	if err != nil {
		return nil, err
	}
	g.s.record(ctx, action, "project/"+e.Name, e.Name, detail)
	return e, nil
}

func (g *guardStore) SearchRuns(ctx context.Context, q trainyard.RunSearch) ([]*trainyard.Run, string, error) {
	who := trainyard.IdentityFrom(ctx)
	all, projects := Readable(who)
	switch {
	case all:
	case len(q.Projects) == 0:
		if len(projects) == 0 {
			return nil, "", nil
		}
		q.Projects = projects
	default:
		for _, p := range q.Projects {
			if err := g.project(ctx, p, "search the runs of", Read); err != nil {
				return nil, "", err
			}
		}
	}
	return g.inner.SearchRuns(ctx, q)
}

func (g *guardStore) SetRunDeleted(ctx context.Context, id string, deleted bool) error {
	verb, action := "delete", "run.delete"
	if !deleted {
		verb, action = "restore", "run.restore"
	}
	r, err := g.run(ctx, id, verb, Change)
	if err != nil {
		return err
	}
	if err := g.inner.SetRunDeleted(ctx, id, deleted); err != nil {
		return err
	}
	project := ""
	if r != nil {
		project = r.Project
	} else if r, err := g.inner.Run(ctx, id); err == nil {
		project = r.Project
	}
	g.s.record(ctx, action, "run/"+id, project, "")
	return nil
}

func (g *guardStore) SetParams(ctx context.Context, id string, params map[string]string) error {
	if _, err := g.run(ctx, id, "log params to", Change); err != nil {
		return err
	}
	return g.inner.SetParams(ctx, id, params)
}

func (g *guardStore) LogBatch(ctx context.Context, id string, b trainyard.RunBatch) error {
	if _, err := g.run(ctx, id, "log a batch to", Change); err != nil {
		return err
	}
	return g.inner.LogBatch(ctx, id, b)
}

func (g *guardStore) AddRunIO(ctx context.Context, id string, io trainyard.RunIO) error {
	if _, err := g.run(ctx, id, "log inputs and outputs to", Change); err != nil {
		return err
	}
	return g.inner.AddRunIO(ctx, id, io)
}

func (g *guardStore) RunIO(ctx context.Context, id string) (trainyard.RunIO, error) {
	if _, err := g.run(ctx, id, "read", Read); err != nil {
		return trainyard.RunIO{}, err
	}
	return g.inner.RunIO(ctx, id)
}

// The model registry is shared by every project: anyone signed in reads
// it, members of some project write to it, admins of some project delete
// from it. A version made from a run needs the right to read the run.

func (g *guardStore) registry(ctx context.Context, verb, what string, act Action) error {
	return Authorize(trainyard.IdentityFrom(ctx), verb, act, Resource{What: what})
}

func (g *guardStore) signedIn(ctx context.Context) error {
	if trainyard.IdentityFrom(ctx) == nil {
		return trainyard.Forbidden("read the model registry: the request carries no identity")
	}
	return nil
}

func (g *guardStore) CreateRegisteredModel(ctx context.Context, m *trainyard.RegisteredModel) error {
	if err := g.registry(ctx, "register", "model "+m.Name, RegistryWrite); err != nil {
		return err
	}
	if err := g.inner.CreateRegisteredModel(ctx, m); err != nil {
		return err
	}
	g.s.record(ctx, "model.create", "model/"+m.Name, "", "")
	return nil
}

func (g *guardStore) RegisteredModel(ctx context.Context, name string) (*trainyard.RegisteredModel, error) {
	if err := g.signedIn(ctx); err != nil {
		return nil, err
	}
	return g.inner.RegisteredModel(ctx, name)
}

func (g *guardStore) RegisteredModels(ctx context.Context) ([]*trainyard.RegisteredModel, error) {
	if err := g.signedIn(ctx); err != nil {
		return nil, err
	}
	return g.inner.RegisteredModels(ctx)
}

func (g *guardStore) UpdateRegisteredModel(ctx context.Context, name string, u trainyard.RegisteredModelUpdate) (*trainyard.RegisteredModel, error) {
	if err := g.registry(ctx, "change", "model "+name, RegistryWrite); err != nil {
		return nil, err
	}
	m, err := g.inner.UpdateRegisteredModel(ctx, name, u)
	if err != nil {
		return nil, err
	}
	var detail []string
	if u.Name != nil {
		detail = append(detail, fmt.Sprintf("renamed=%q", *u.Name))
	}
	for _, a := range trainyard.SortedKeys(u.Aliases) {
		detail = append(detail, fmt.Sprintf("alias %s=%d", a, u.Aliases[a]))
	}
	g.s.record(ctx, "model.update", "model/"+name, "", strings.Join(detail, " "))
	return m, nil
}

func (g *guardStore) DeleteRegisteredModel(ctx context.Context, name string) error {
	if err := g.registry(ctx, "delete", "model "+name, RegistryDelete); err != nil {
		return err
	}
	if err := g.inner.DeleteRegisteredModel(ctx, name); err != nil {
		return err
	}
	g.s.record(ctx, "model.delete", "model/"+name, "", "")
	return nil
}

func (g *guardStore) CreateModelVersion(ctx context.Context, v *trainyard.ModelVersion) error {
	if err := g.registry(ctx, "register a version of", "model "+v.Name, RegistryWrite); err != nil {
		return err
	}
	if v.RunID != "" {
		if _, err := g.run(ctx, v.RunID, "register a model from", Read); err != nil && !trainyard.IsCode(err, trainyard.ENOTFOUND) {
			return err
		}
	}
	if err := g.inner.CreateModelVersion(ctx, v); err != nil {
		return err
	}
	g.s.record(ctx, "model.version.create", fmt.Sprintf("model/%s/%d", v.Name, v.Version), "", "run="+v.RunID)
	return nil
}

func (g *guardStore) ModelVersion(ctx context.Context, name string, version int64) (*trainyard.ModelVersion, error) {
	if err := g.signedIn(ctx); err != nil {
		return nil, err
	}
	return g.inner.ModelVersion(ctx, name, version)
}

func (g *guardStore) ModelVersions(ctx context.Context, name string) ([]*trainyard.ModelVersion, error) {
	if err := g.signedIn(ctx); err != nil {
		return nil, err
	}
	return g.inner.ModelVersions(ctx, name)
}

func (g *guardStore) UpdateModelVersion(ctx context.Context, name string, version int64, u trainyard.ModelVersionUpdate) (*trainyard.ModelVersion, error) {
	if err := g.registry(ctx, "change", fmt.Sprintf("version %d of model %s", version, name), RegistryWrite); err != nil {
		return nil, err
	}
	v, err := g.inner.UpdateModelVersion(ctx, name, version, u)
	if err != nil {
		return nil, err
	}
	detail := ""
	if u.Stage != nil {
		detail = "stage=" + *u.Stage
	}
	g.s.record(ctx, "model.version.update", fmt.Sprintf("model/%s/%d", name, version), "", detail)
	return v, nil
}

func (g *guardStore) DeleteModelVersion(ctx context.Context, name string, version int64) error {
	if err := g.registry(ctx, "delete", fmt.Sprintf("version %d of model %s", version, name), RegistryDelete); err != nil {
		return err
	}
	if err := g.inner.DeleteModelVersion(ctx, name, version); err != nil {
		return err
	}
	g.s.record(ctx, "model.version.delete", fmt.Sprintf("model/%s/%d", name, version), "", "")
	return nil
}

// Logged models belong to an experiment (a project) and, usually, to the
// run that logged them: writing one is writing its run.

func (g *guardStore) loggedModelResource(ctx context.Context, m *trainyard.LoggedModel) (Resource, error) {
	res := Resource{What: "logged model " + m.ID, RunID: m.SourceRunID}
	if m.SourceRunID != "" {
		r, err := g.inner.Run(ctx, m.SourceRunID)
		if err == nil {
			res.Project, res.Owner = r.Project, r.Owner
			return res, nil
		}
		if !trainyard.IsCode(err, trainyard.ENOTFOUND) {
			return res, err
		}
	}
	e, err := g.inner.Experiment(ctx, m.ExperimentID)
	if err != nil {
		return res, err
	}
	res.Project = e.Name
	return res, nil
}

func (g *guardStore) CreateLoggedModel(ctx context.Context, m *trainyard.LoggedModel) error {
	who := trainyard.IdentityFrom(ctx)
	if !who.Unlimited() {
		res, err := g.loggedModelResource(ctx, m)
		if err != nil {
			return err
		}
		if m.SourceRunID != "" {
			// A model logged by a run is a write to that run.
			res.What = "run " + m.SourceRunID
			err = Authorize(who, "log a model from", Change, res)
		} else {
			res.What = "project " + res.Project
			err = Authorize(who, "log models in", Create, res)
		}
		if err != nil {
			return err
		}
	}
	return g.inner.CreateLoggedModel(ctx, m)
}

func (g *guardStore) LoggedModel(ctx context.Context, id string) (*trainyard.LoggedModel, error) {
	m, err := g.inner.LoggedModel(ctx, id)
	if err != nil {
		return nil, err
	}
	who := trainyard.IdentityFrom(ctx)
	if who.Unlimited() {
		return m, nil
	}
	res, err := g.loggedModelResource(ctx, m)
	if err != nil {
		return nil, err
	}
	return m, Authorize(who, "read", Read, res)
}

func (g *guardStore) LoggedModels(ctx context.Context, experimentIDs []string) ([]*trainyard.LoggedModel, error) {
	who := trainyard.IdentityFrom(ctx)
	for _, id := range experimentIDs {
		e, err := g.inner.Experiment(ctx, id)
		if trainyard.IsCode(err, trainyard.ENOTFOUND) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if err := g.project(ctx, e.Name, "read the models of", Read); err != nil {
			return nil, err
		}
	}
	ms, err := g.inner.LoggedModels(ctx, experimentIDs)
	if err != nil || len(experimentIDs) > 0 {
		return ms, err
	}
	if all, _ := Readable(who); all {
		return ms, nil
	}
	names := map[string]string{}
	return slices.DeleteFunc(ms, func(m *trainyard.LoggedModel) bool {
		name, ok := names[m.ExperimentID]
		if !ok {
			if e, err := g.inner.Experiment(ctx, m.ExperimentID); err == nil {
				name = e.Name
			}
			names[m.ExperimentID] = name
		}
		return name == "" || !canRead(who, name)
	}), nil
}

func (g *guardStore) UpdateLoggedModel(ctx context.Context, id string, u trainyard.LoggedModelUpdate) (*trainyard.LoggedModel, error) {
	who := trainyard.IdentityFrom(ctx)
	if !who.Unlimited() {
		m, err := g.inner.LoggedModel(ctx, id)
		if err != nil {
			return nil, err
		}
		res, err := g.loggedModelResource(ctx, m)
		if err != nil {
			return nil, err
		}
		if m.SourceRunID == "" {
			err = Authorize(who, "change", Create, res) // members change the project's models
		} else {
			err = Authorize(who, "change", Change, res)
		}
		if err != nil {
			return nil, err
		}
	}
	m, err := g.inner.UpdateLoggedModel(ctx, id, u)
	if err != nil {
		return nil, err
	}
	if u.Deleted != nil {
		action := "logged_model.delete"
		if !*u.Deleted {
			action = "logged_model.restore"
		}
		g.s.record(ctx, action, "logged_model/"+id, "", "")
	}
	return m, nil
}

// Users, tokens and the audit log go through the Service, never through
// the store an API holds.

func (g *guardStore) CreateUser(ctx context.Context, u *trainyard.User) error {
	if err := g.unlimitedOnly(ctx, "create users"); err != nil {
		return err
	}
	return g.inner.CreateUser(ctx, u)
}

func (g *guardStore) User(ctx context.Context, name string) (*trainyard.User, error) {
	if err := g.unlimitedOnly(ctx, "read users"); err != nil {
		return nil, err
	}
	return g.inner.User(ctx, name)
}

func (g *guardStore) Users(ctx context.Context) ([]*trainyard.User, error) {
	if err := g.unlimitedOnly(ctx, "list users"); err != nil {
		return nil, err
	}
	return g.inner.Users(ctx)
}

func (g *guardStore) UpdateUser(ctx context.Context, name string, u trainyard.UserUpdate) (*trainyard.User, error) {
	if err := g.unlimitedOnly(ctx, "change users"); err != nil {
		return nil, err
	}
	return g.inner.UpdateUser(ctx, name, u)
}

func (g *guardStore) DeleteUser(ctx context.Context, name string) error {
	if err := g.unlimitedOnly(ctx, "delete users"); err != nil {
		return err
	}
	return g.inner.DeleteUser(ctx, name)
}

func (g *guardStore) CreateToken(ctx context.Context, t *trainyard.Token) error {
	if err := g.unlimitedOnly(ctx, "create tokens"); err != nil {
		return err
	}
	return g.inner.CreateToken(ctx, t)
}

func (g *guardStore) TokenByHash(ctx context.Context, hash string) (*trainyard.Token, error) {
	if err := g.unlimitedOnly(ctx, "read tokens"); err != nil {
		return nil, err
	}
	return g.inner.TokenByHash(ctx, hash)
}

func (g *guardStore) Tokens(ctx context.Context, f trainyard.TokenFilter) ([]*trainyard.Token, error) {
	if err := g.unlimitedOnly(ctx, "list tokens"); err != nil {
		return nil, err
	}
	return g.inner.Tokens(ctx, f)
}

func (g *guardStore) RevokeToken(ctx context.Context, id string, at time.Time) (*trainyard.Token, error) {
	if err := g.unlimitedOnly(ctx, "revoke tokens"); err != nil {
		return nil, err
	}
	return g.inner.RevokeToken(ctx, id, at)
}

func (g *guardStore) ServerSecret(ctx context.Context) ([]byte, error) {
	if err := g.unlimitedOnly(ctx, "read the server secret"); err != nil {
		return nil, err
	}
	return g.inner.ServerSecret(ctx)
}

func (g *guardStore) AppendAudit(ctx context.Context, entries ...*trainyard.AuditEntry) error {
	if err := g.unlimitedOnly(ctx, "write the audit log"); err != nil {
		return err
	}
	return g.inner.AppendAudit(ctx, entries...)
}

func (g *guardStore) Audit(ctx context.Context, f trainyard.AuditFilter) ([]*trainyard.AuditEntry, error) {
	if err := g.unlimitedOnly(ctx, "read the audit log"); err != nil {
		return nil, err
	}
	return g.inner.Audit(ctx, f)
}

// Close does nothing: the store itself belongs to whoever opened it.
func (g *guardStore) Close() error { return nil }

// Sweeps: the sweep service keeps its own store (the server's) and checks
// callers itself (Sweeps in policy.go); these are for a caller that holds
// this guarded view, with the same rules: a viewer reads, a member creates
// (the sweep is theirs) and changes their own, an admin anyone's.

func (g *guardStore) CreateSweep(ctx context.Context, sw *trainyard.Sweep, trials ...*trainyard.Trial) error {
	if err := Authorize(trainyard.IdentityFrom(ctx), "create sweeps in", Create, Resource{What: "project " + sw.Project, Project: sw.Project}); err != nil {
		return err
	}
	sw.Owner = trainyard.OwnerFrom(ctx)
	if err := g.inner.CreateSweep(ctx, sw, trials...); err != nil {
		return err
	}
	g.s.RecordSweep(ctx, "sweep.create", sw)
	return nil
}

func (g *guardStore) Sweep(ctx context.Context, id string) (*trainyard.Sweep, error) {
	sw, err := g.inner.Sweep(ctx, id)
	if err != nil {
		return nil, err
	}
	if err := Sweeps(ctx, "read", false, sw); err != nil {
		return nil, err
	}
	return sw, nil
}

func (g *guardStore) Sweeps(ctx context.Context, f trainyard.SweepFilter) ([]*trainyard.Sweep, error) {
	all, err := g.inner.Sweeps(ctx, f)
	if err != nil {
		return nil, err
	}
	out := all[:0]
	for _, sw := range all {
		if Sweeps(ctx, "read", false, sw) == nil {
			out = append(out, sw)
		}
	}
	return out, nil
}

func (g *guardStore) Trials(ctx context.Context, sweepID string) ([]*trainyard.Trial, error) {
	if _, err := g.Sweep(ctx, sweepID); err != nil {
		return nil, err
	}
	return g.inner.Trials(ctx, sweepID)
}

// UpdateSweep is checked against the stored sweep: its owner and project
// are the ones that count (the store changes neither).
func (g *guardStore) UpdateSweep(ctx context.Context, sw *trainyard.Sweep, trials ...*trainyard.Trial) error {
	stored, err := g.inner.Sweep(ctx, sw.ID)
	if err != nil {
		return err
	}
	if err := Sweeps(ctx, "change", true, stored); err != nil {
		return err
	}
	if err := g.inner.UpdateSweep(ctx, sw, trials...); err != nil {
		return err
	}
	if sw.State != stored.State {
		g.s.record(ctx, "sweep.update", "sweep/"+sw.ID, stored.Project, "state="+string(sw.State))
	}
	return nil
}
