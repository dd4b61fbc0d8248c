import type { Run } from '../../api/types';
import { isTerminal } from '../../api/types';
import { CancelJob } from '../../components/CancelJob';
import { LongValue } from '../../components/LongValue';
import { StateBadge } from '../../components/States';
import { fmtDuration, fmtTime, runSeconds } from '../../lib/format';
import { Link } from '../../router';
import { useNow } from '../../useNow';

/** RunHeader names the run and says where it stands: state, times, command, code version. */
export function RunHeader({ run, onChanged }: { run: Run; onChanged: () => void }) {
  const now = useNow(isTerminal(run.state) ? 0 : 1000);
  const tags = Object.entries(run.tags);
  return (
    <header className="run-head">
      <div className="page-head">
        <h1>
          <Link to={`/projects/${encodeURIComponent(run.project)}`}>{run.project}</Link> / <span data-testid="run-name">{run.name}</span>
        </h1>
        <StateBadge state={run.state} live />
        {run.job_id && !isTerminal(run.state) && <CancelJob id={run.job_id} name={run.name} project={run.project} owner={run.owner} onDone={onChanged} />}
      </div>
      <dl className="facts">
        <div>
          <dt>ID</dt>
          <dd className="mono">{run.id}</dd>
        </div>
        {run.owner && (
          <div>
            <dt>Owner</dt>
            <dd>{run.owner}</dd>
          </div>
        )}
        <div>
          <dt>Started</dt>
          <dd>{fmtTime(run.started_at || run.created_at)}</dd>
        </div>
        <div>
          <dt>{isTerminal(run.state) ? 'Ran for' : 'Running for'}</dt>
          <dd>{run.state === 'QUEUED' ? '—' : fmtDuration(runSeconds(run, now))}</dd>
        </div>
        {run.exit_code !== undefined && (
          <div>
            <dt>Exit code</dt>
            <dd>{run.exit_code}</dd>
          </div>
        )}
        {run.reason && (
          <div>
            <dt>Reason</dt>
            <dd>{run.reason}</dd>
          </div>
        )}
        {run.tags['trainyard.sweep'] && (
          <div>
            <dt>Sweep</dt>
            <dd>
              <Link to={`/sweeps/${encodeURIComponent(run.tags['trainyard.sweep'])}`} data-testid="run-sweep">
                trial {run.tags['trainyard.trial']} of sweep {run.tags['trainyard.sweep']}
              </Link>
            </dd>
          </div>
        )}
        {run.job_id && (
          <div>
            <dt>Job</dt>
            <dd>
              <Link to={`/cluster#job-${run.job_id}`} className="mono">
                {run.job_id}
              </Link>
            </dd>
          </div>
        )}
        {run.git && (
          <div>
            <dt>Git</dt>
            <dd className="mono" title={run.git.remote}>
              {run.git.branch ? `${run.git.branch} ` : ''}
              {run.git.commit.slice(0, 10)}
              {run.git.dirty ? ' (dirty)' : ''}
            </dd>
          </div>
        )}
        {run.command && run.command.length > 0 && (
          <div className="wide">
            <dt>Command</dt>
            <dd className="mono">
              <LongValue text={run.command.join(' ')} label="command" />
            </dd>
          </div>
        )}
        {tags.length > 0 && (
          <div className="wide">
            <dt>Tags</dt>
            <dd>
              {tags.map(([k, v]) => (
                <span key={k} className="tag">
                  {k}: <LongValue text={v} label={`tag ${k}`} limit={80} />
                </span>
              ))}
            </dd>
          </div>
        )}
      </dl>
    </header>
  );
}
