package access

import (
	"context"
	"io"

	"github.com/trainyard/trainyard"
)

// Jobs returns the job service as the APIs see it: submitting needs the
// member role in the job's project (the job belongs to the caller: the
// dispatcher records trainyard.OwnerFrom(ctx)); canceling a job needs to
// own it as a member, or the admin role in its project; reading needs the
// viewer role, and lists hold only the projects the caller reads. Submits
// and cancels are recorded in the audit log.
// A service that says whether it schedules (Leading, as the dispatcher
// does) keeps saying it through the guard.
func (s *Service) Jobs(inner trainyard.JobService) trainyard.JobService {
	g := &guardJobs{s: s, inner: inner}
	if l, ok := inner.(leader); ok {
		return &guardLeadingJobs{guardJobs: g, l: l}
	}
	return g
}

type leader interface{ Leading() bool }

type guardLeadingJobs struct {
	*guardJobs
	l leader
}

// Leading reports whether the service schedules jobs now.
func (g *guardLeadingJobs) Leading() bool { return g.l.Leading() }

type guardJobs struct {
	s     *Service
	inner trainyard.JobService
}

var _ trainyard.JobService = (*guardJobs)(nil)

func (g *guardJobs) Submit(ctx context.Context, spec trainyard.JobSpec) (*trainyard.Job, error) {
	project := spec.Project
	if project == "" {
		project = trainyard.DefaultProject
	}
	if err := trainyard.ValidateProject("project", project); err != nil {
		return nil, err
	}
	if err := Authorize(trainyard.IdentityFrom(ctx), "submit jobs to", Create, Resource{What: "project " + project, Project: project}); err != nil {
		return nil, err
	}
	j, err := g.inner.Submit(ctx, spec)
	if err != nil {
		return nil, err
	}
	g.s.record(ctx, "job.submit", "job/"+j.ID, j.Project, "")
	return j, nil
}

func (g *guardJobs) Cancel(ctx context.Context, id string) (*trainyard.Job, error) {
	if err := g.mayCancel(ctx, id); err != nil {
		return nil, err
	}
	j, err := g.inner.Cancel(ctx, id)
	if err != nil {
		return nil, err
	}
	g.s.record(ctx, "job.cancel", "job/"+j.ID, j.Project, "")
	return j, nil
}

// CancelMany checks every job before canceling any: one the caller may
// not cancel refuses them all, naming it.
func (g *guardJobs) CancelMany(ctx context.Context, ids []string) ([]*trainyard.Job, error) {
	for _, id := range ids {
		if err := g.mayCancel(ctx, id); err != nil {
			return nil, err
		}
	}
	js, err := g.inner.CancelMany(ctx, ids)
	if err != nil {
		return nil, err
	}
	for _, j := range js {
		g.s.record(ctx, "job.cancel", "job/"+j.ID, j.Project, "")
	}
	return js, nil
}

func (g *guardJobs) mayCancel(ctx context.Context, id string) error {
	who := trainyard.IdentityFrom(ctx)
	if who.Unlimited() {
		return nil
	}
	j, err := g.inner.Job(ctx, id)
	if err != nil {
		return err
	}
	return Authorize(who, "cancel", Change, jobResource(j))
}

func (g *guardJobs) Job(ctx context.Context, id string) (*trainyard.Job, error) {
	j, err := g.inner.Job(ctx, id)
	if err != nil {
		return nil, err
	}
	return j, Authorize(trainyard.IdentityFrom(ctx), "read", Read, jobResource(j))
}

func (g *guardJobs) Jobs(ctx context.Context, f trainyard.JobFilter) ([]*trainyard.Job, error) {
	f, ok := restrictJobs(trainyard.IdentityFrom(ctx), f)
	if !ok {
		if f.Project != "" {
			return nil, Authorize(trainyard.IdentityFrom(ctx), "list the jobs of", Read, Resource{What: "project " + f.Project, Project: f.Project})
		}
		return nil, nil
	}
	return g.inner.Jobs(ctx, f)
}

func (g *guardJobs) Machine() trainyard.Machine { return g.inner.Machine() }

func (g *guardJobs) Executor(ctx context.Context) (trainyard.ExecutorInfo, error) {
	return g.inner.Executor(ctx)
}

// Artifacts returns the artifact store as the APIs see it: a run's files
// (or a logged model's) are read with the right to read the run and
// written with the right to change it.
func (s *Service) Artifacts(inner trainyard.ArtifactStore) trainyard.ArtifactStore {
	return &guardArtifacts{s: s, inner: inner}
}

type guardArtifacts struct {
	s     *Service
	inner trainyard.ArtifactStore
}

var _ trainyard.ArtifactStore = (*guardArtifacts)(nil)

// check resolves an artifact key (a run ID, or a logged model's) and
// checks act on what owns it.
func (g *guardArtifacts) check(ctx context.Context, key, verb string, act Action) error {
	who := trainyard.IdentityFrom(ctx)
	if who.Unlimited() {
		return nil
	}
	st := &guardStore{s: g.s, inner: g.s.store}
	r, err := g.s.store.Run(ctx, key)
	if err == nil {
		return Authorize(who, verb, act, runResource(r))
	}
	if !trainyard.IsCode(err, trainyard.ENOTFOUND) {
		return err
	}
	m, err := g.s.store.LoggedModel(ctx, key)
	if err != nil {
		return trainyard.Errorf(trainyard.ENOTFOUND, "no run or logged model %s", key)
	}
	res, err := st.loggedModelResource(ctx, m)
	if err != nil {
		return err
	}
	if act == Change && m.SourceRunID == "" {
		act = Create // members write the files of their project's models
	}
	return Authorize(who, verb, act, res)
}

func (g *guardArtifacts) PutArtifact(ctx context.Context, runID, path string, r io.Reader) (trainyard.ArtifactInfo, error) {
	if err := g.check(ctx, runID, "upload artifacts to", Change); err != nil {
		return trainyard.ArtifactInfo{}, err
	}
	return g.inner.PutArtifact(ctx, runID, path, r)
}

func (g *guardArtifacts) OpenArtifact(ctx context.Context, runID, path string) (io.ReadSeekCloser, trainyard.ArtifactInfo, error) {
	if err := g.check(ctx, runID, "read the artifacts of", Read); err != nil {
		return nil, trainyard.ArtifactInfo{}, err
	}
	return g.inner.OpenArtifact(ctx, runID, path)
}

func (g *guardArtifacts) ListArtifacts(ctx context.Context, runID, dir string, recursive bool) ([]trainyard.ArtifactInfo, error) {
	if err := g.check(ctx, runID, "list the artifacts of", Read); err != nil {
		return nil, err
	}
	return g.inner.ListArtifacts(ctx, runID, dir, recursive)
}

func (g *guardArtifacts) DeleteArtifact(ctx context.Context, runID, path string) error {
	if err := g.check(ctx, runID, "delete artifacts of", Change); err != nil {
		return err
	}
	return g.inner.DeleteArtifact(ctx, runID, path)
}

// Transfers guards an object store's direct transfers (multipart uploads
// and presigned downloads) as Artifacts guards the proxied path: a URL
// handed out is as good as the write or read it allows. nil stays nil.
func (s *Service) Transfers(inner trainyard.ArtifactTransfers) trainyard.ArtifactTransfers {
	if inner == nil {
		return nil
	}
	return &guardTransfers{g: &guardArtifacts{s: s}, inner: inner}
}

type guardTransfers struct {
	g     *guardArtifacts
	inner trainyard.ArtifactTransfers
}

func (t *guardTransfers) CreateUpload(ctx context.Context, runID, path string, parts int) (*trainyard.DirectUpload, error) {
	if err := t.g.check(ctx, runID, "upload artifacts to", Change); err != nil {
		return nil, err
	}
	return t.inner.CreateUpload(ctx, runID, path, parts)
}

func (t *guardTransfers) CompleteUpload(ctx context.Context, runID, path, uploadID string, parts []trainyard.UploadedPart) (trainyard.ArtifactInfo, error) {
	if err := t.g.check(ctx, runID, "upload artifacts to", Change); err != nil {
		return trainyard.ArtifactInfo{}, err
	}
	return t.inner.CompleteUpload(ctx, runID, path, uploadID, parts)
}

func (t *guardTransfers) AbortUpload(ctx context.Context, runID, path, uploadID string) error {
	if err := t.g.check(ctx, runID, "upload artifacts to", Change); err != nil {
		return err
	}
	return t.inner.AbortUpload(ctx, runID, path, uploadID)
}

func (t *guardTransfers) DownloadURL(ctx context.Context, runID, path string) (*trainyard.DirectDownload, error) {
	if err := t.g.check(ctx, runID, "read the artifacts of", Read); err != nil {
		return nil, err
	}
	return t.inner.DownloadURL(ctx, runID, path)
}

// LogStore reads and appends run logs; package http's interface of the
// same name is this one.
type LogStore interface {
	ReadLog(ctx context.Context, runID string, rank int, offset int64) (io.ReadCloser, int64, error)
	AppendLog(ctx context.Context, runID string, data []byte) error
}

// Logs returns the log store as the APIs see it: reading a run's log
// needs the right to read the run, appending to it the right to change it.
func (s *Service) Logs(inner LogStore) LogStore { return &guardLogs{s: s, inner: inner} }

type guardLogs struct {
	s     *Service
	inner LogStore
}

func (g *guardLogs) ReadLog(ctx context.Context, runID string, rank int, offset int64) (io.ReadCloser, int64, error) {
	st := &guardStore{s: g.s, inner: g.s.store}
	if _, err := st.run(ctx, runID, "read the log of", Read); err != nil {
		return nil, 0, err
	}
	return g.inner.ReadLog(ctx, runID, rank, offset)
}

func (g *guardLogs) AppendLog(ctx context.Context, runID string, data []byte) error {
	st := &guardStore{s: g.s, inner: g.s.store}
	if _, err := st.run(ctx, runID, "append to the log of", Change); err != nil {
		return err
	}
	return g.inner.AppendLog(ctx, runID, data)
}
