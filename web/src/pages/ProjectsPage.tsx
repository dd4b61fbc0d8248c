import { usePoll } from '../api/usePoll';
import type { Project } from '../api/types';
import { fmtAgo, fmtTime } from '../lib/format';
import { Link } from '../router';
import { Empty, Failed, Loading } from '../components/States';

/** ProjectsPage lists the projects that hold runs, most recently active first. */
export function ProjectsPage() {
  const { data, error, loading } = usePoll<{ projects: Project[] }>('/api/v1/projects', 5000);
  if (loading) return <Loading what="projects" />;
  if (error && !data) return <Failed error={error} what="projects" />;
  const projects = [...(data?.projects ?? [])].sort((a, b) => (b.last_run_at ?? '').localeCompare(a.last_run_at ?? '') || a.name.localeCompare(b.name));
  return (
    <div className="page">
      <div className="page-head">
        <h1>Projects</h1>
      </div>
      {projects.length === 0 ? (
        <Empty title="No runs yet">
          <p>
            Run a training script under trainyard: <code>trainyard run -- python train.py</code>
          </p>
          <p>
            or track one from Python: <code>run = trainyard.init(project="demo", config=&#123;"lr": 0.01&#125;)</code> then{' '}
            <code>run.log(&#123;"loss": loss&#125;, step=step)</code>.
          </p>
          <p className="muted">Runs appear here as soon as they start.</p>
        </Empty>
      ) : (
        <table className="table projects">
          <thead>
            <tr>
              <th scope="col">Project</th>
              <th scope="col" className="num">
                Runs
              </th>
              <th scope="col">Last run</th>
            </tr>
          </thead>
          <tbody>
            {projects.map((p) => (
              <tr key={p.name}>
                <td>
                  <Link to={`/projects/${encodeURIComponent(p.name)}`}>{p.name}</Link>
                </td>
                <td className="num">{p.runs.toLocaleString('en-US')}</td>
                <td title={fmtTime(p.last_run_at)}>{fmtAgo(p.last_run_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
