import type { Job } from '../../api/types';
import { CancelJob } from '../../components/CancelJob';
import { StateBadge } from '../../components/States';
import { fmtAgo, fmtDuration, fmtTime, runSeconds } from '../../lib/format';
import { Link } from '../../router';
import { jobName, placementText, resourcesText } from './jobText';

const RunLink = ({ j }: { j: Job }) => (
  <Link to={`/runs/${encodeURIComponent(j.id)}`} title={j.command.join(' ')}>
    {jobName(j)}
  </Link>
);

/** RunningJobs lists what runs now, on which GPUs, with a cancel button each. */
export function RunningJobs({ jobs, onChange, now = Date.now() }: { jobs: Job[]; onChange: () => void; now?: number }) {
  if (jobs.length === 0) return <p className="muted">Nothing is running. Start a job with <code>trainyard run -- python train.py</code>.</p>;
  return (
    <table className="table jobs" aria-label="Running jobs">
      <thead>
        <tr>
          <th scope="col">Job</th>
          <th scope="col">Project</th>
          <th scope="col">Resources</th>
          <th scope="col">Where</th>
          <th scope="col">Backend ID</th>
          <th scope="col">Running for</th>
          <th scope="col"><span className="visually-hidden">Actions</span></th>
        </tr>
      </thead>
      <tbody>
        {jobs.map((j) => (
          <tr key={j.id} id={`job-${j.id}`} data-job-id={j.id}>
            <td><RunLink j={j} />{j.owner && <span className="muted small"> by {j.owner}</span>}</td>
            <td>{j.project}</td>
            <td>{resourcesText(j)}</td>
            <td className="mono">{placementText(j)}</td>
            <td className="mono">{j.backend_id || '—'}</td>
            <td title={fmtTime(j.started_at)}>{j.started_at ? fmtDuration(runSeconds({ created_at: j.submitted_at, started_at: j.started_at }, now)) : '—'}</td>
            <td><CancelJob id={j.id} name={jobName(j)} project={j.project ?? 'default'} owner={j.owner} onDone={onChange} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** QueueTable lists waiting jobs in scheduling order with why each waits. */
export function QueueTable({ jobs, onChange, now = Date.now() }: { jobs: Job[]; onChange: () => void; now?: number }) {
  if (jobs.length === 0) return <p className="muted">The queue is empty: every job that was submitted has started.</p>;
  return (
    <table className="table jobs" aria-label="Queued jobs">
      <thead>
        <tr>
          <th scope="col" className="num">#</th>
          <th scope="col">Job</th>
          <th scope="col">Asks for</th>
          <th scope="col">Why it waits</th>
          <th scope="col">Waiting</th>
          <th scope="col"><span className="visually-hidden">Actions</span></th>
        </tr>
      </thead>
      <tbody>
        {jobs.map((j) => (
          <tr key={j.id} id={`job-${j.id}`} data-job-id={j.id}>
            <td className="num">{j.queue_position ?? ''}</td>
            <td><RunLink j={j} /> <span className="muted small">({j.project}{j.priority ? `, priority ${j.priority}` : ''}{j.owner ? `, by ${j.owner}` : ''})</span></td>
            <td>{resourcesText(j)}</td>
            <td className="reason">{j.reason || '—'}</td>
            <td title={fmtTime(j.submitted_at)}>{fmtAgo(j.submitted_at, now).replace(' ago', '')}</td>
            <td><CancelJob id={j.id} name={jobName(j)} project={j.project ?? 'default'} owner={j.owner} onDone={onChange} /></td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** RecentJobs lists jobs that ended lately, and how. */
export function RecentJobs({ jobs }: { jobs: Job[] }) {
  if (jobs.length === 0) return <p className="muted">No job has finished yet.</p>;
  return (
    <table className="table jobs" aria-label="Recently finished jobs">
      <thead>
        <tr>
          <th scope="col">Job</th>
          <th scope="col">State</th>
          <th scope="col" className="num">Exit</th>
          <th scope="col">Reason</th>
          <th scope="col">Ended</th>
          <th scope="col">Ran for</th>
        </tr>
      </thead>
      <tbody>
        {jobs.map((j) => (
          <tr key={j.id} data-job-id={j.id}>
            <td><RunLink j={j} /></td>
            <td><StateBadge state={j.state} /></td>
            <td className="num">{j.exit_code ?? ''}</td>
            <td>{j.reason ?? ''}</td>
            <td title={fmtTime(j.ended_at)}>{fmtAgo(j.ended_at)}</td>
            <td>{j.started_at ? fmtDuration(runSeconds({ created_at: j.submitted_at, started_at: j.started_at, ended_at: j.ended_at })) : '—'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
