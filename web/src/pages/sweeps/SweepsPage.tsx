import { query } from '../../api/client';
import type { Sweep } from '../../api/types';
import { toNumber } from '../../api/types';
import { usePoll } from '../../api/usePoll';
import { Empty, Failed, Loading } from '../../components/States';
import { fmtAgo, fmtNum, fmtTime } from '../../lib/format';
import { Link } from '../../router';
import { progress, searchLabel } from './sweepData';

/** SweepsPage lists sweeps, newest first, optionally of one project (?project=). */
export function SweepsPage({ project }: { project?: string }) {
  const { data, error, loading } = usePoll<{ sweeps: Sweep[] }>(`/api/v1/sweeps${query({ project, limit: 500 })}`, 3000);
  if (loading) return <Loading what="sweeps" />;
  if (error && !data) return <Failed error={error} what="sweeps" />;
  const sweeps = data?.sweeps ?? [];
  return (
    <div className="page">
      <div className="page-head">
        <h1>
          {project && (
            <>
              <Link to={`/projects/${encodeURIComponent(project)}`}>{project}</Link> /{' '}
            </>
          )}
          Sweeps
        </h1>
      </div>
      {sweeps.length === 0 ? (
        <Empty title="No sweeps yet">
          <p>
            Search hyperparameters with <code>trainyard sweep create sweep.yaml</code>, or from flags:{' '}
            <code>trainyard sweep create --search tpe --metric val/loss --param lr=loguniform:1e-5:1e-1 --max-trials 32 -- python train.py</code>
          </p>
        </Empty>
      ) : (
        <SweepsTable sweeps={sweeps} />
      )}
    </div>
  );
}

/** SweepsTable is the list of sweeps: each with its project, owner (with users), state, search, trials and best value. */
export function SweepsTable({ sweeps }: { sweeps: Sweep[] }) {
  return (
    <table className="table sweeps">
      <thead>
        <tr>
          <th scope="col">Sweep</th>
          <th scope="col">Project</th>
          <th scope="col">State</th>
          <th scope="col">Search</th>
          <th scope="col" className="num">
            Trials
          </th>
          <th scope="col">Best</th>
          <th scope="col">Created</th>
        </tr>
      </thead>
      <tbody>
        {sweeps.map((s) => {
          const p = progress(s);
          return (
            <tr key={s.id}>
              <td>
                <Link to={`/sweeps/${encodeURIComponent(s.id)}`}>{s.name}</Link> <span className="muted mono small">{s.id}</span>
                {s.owner && <span className="muted small"> by {s.owner}</span>}
              </td>
              <td>
                <Link to={`/projects/${encodeURIComponent(s.project)}`}>{s.project}</Link>
              </td>
              <td>
                <SweepBadge state={s.state} />
              </td>
              <td>{searchLabel(s)}</td>
              <td className="num">
                {p.ended}/{p.total}
              </td>
              <td>{s.best_value !== undefined ? `${s.metric} ${fmtNum(toNumber(s.best_value))} (#${s.best_trial})` : '—'}</td>
              <td title={fmtTime(s.created_at)}>{fmtAgo(s.created_at)}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}

/** SweepBadge shows a sweep's or trial's state, coloured as runs' states are. */
export function SweepBadge({ state }: { state: string }) {
  const cls: Record<string, string> = {
    RUNNING: 'running', QUEUED: 'queued', PAUSED: 'queued', STOPPING: 'queued', COMPLETED: 'succeeded', FAILED: 'failed', STOPPED: 'canceled',
  };
  return <span className={`badge state-${cls[state] ?? 'canceled'}`}>{state.toLowerCase()}</span>;
}
