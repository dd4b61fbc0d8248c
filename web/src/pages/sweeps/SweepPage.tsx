import { useMemo } from 'react';
import { enc } from '../../api/client';
import { toNumber, type Run, type Sweep, type Trial } from '../../api/types';
import { usePoll } from '../../api/usePoll';
import { Failed, Loading } from '../../components/States';
import { fmtAgo, fmtNum, fmtTime } from '../../lib/format';
import { Link } from '../../router';
import { useRuns } from '../compare/useRuns';
import { BestSoFar, ParallelPlot, ParamScatter, TrialCurves } from './SweepCharts';
import { SweepControls } from './SweepControls';
import { SweepBadge } from './SweepsPage';
import { progress, searchLabel } from './sweepData';
import { TrialsTable } from './TrialsTable';

type SweepWithTrials = Sweep & { trials?: Trial[] };

/**
 * SweepPage shows a sweep: where it stands (with pause, resume and stop),
 * the best trial, the best-so-far curve, every trial's curve, parallel
 * coordinates and a scatter of the parameters against the metric, and the
 * trials table. It follows a running sweep live.
 */
export function SweepPage({ id }: { id: string }) {
  const { data, error, loading, reload } = usePoll<SweepWithTrials>(`/api/v1/sweeps/${enc(id)}`, 2000);
  const trials = useMemo(() => data?.trials ?? [], [data]);
  const ids = useMemo(() => trials.flatMap((t) => t.jobs ?? []), [trials]);
  const { runs } = useRuns(ids);
  const byId = useMemo(() => {
    const m = new Map<string, Run>();
    runs.forEach((r) => r && m.set(r.id, r));
    return m;
  }, [runs]);
  if (loading) return <Loading what="the sweep" />;
  if (error && !data) return <Failed error={error} what={`sweep ${id}`} />;
  const s = data!;
  const p = progress(s);
  const best = trials.find((t) => t.number === s.best_trial);
  return (
    <div className="page sweep-page">
      <div className="page-head">
        <h1>
          <Link to={`/sweeps?project=${enc(s.project)}`}>{s.project}</Link> / <span data-testid="sweep-name">{s.name}</span>
        </h1>
        <SweepBadge state={s.state} />
        <SweepControls sweep={s} onDone={reload} />
      </div>
      <dl className="facts">
        <div>
          <dt>ID</dt>
          <dd className="mono">{s.id}</dd>
        </div>
        <div>
          <dt>Search</dt>
          <dd>{searchLabel(s)}</dd>
        </div>
        <div>
          <dt>Metric</dt>
          <dd>
            {s.metric} ({s.mode === 'max' ? 'maximise' : 'minimise'})
          </dd>
        </div>
        <div>
          <dt>Trials</dt>
          <dd data-testid="sweep-progress">
            {p.ended}/{p.total} ended
            {Object.entries(s.counts)
              .filter(([k]) => !['COMPLETED', 'STOPPED', 'FAILED'].includes(k))
              .map(([k, n]) => `, ${n} ${k.toLowerCase()}`)
              .join('')}
          </dd>
        </div>
        <div>
          <dt>Runs as</dt>
          <dd>{s.managed ? `jobs, ${s.parallel} at once` : 'ask/tell (your own)'}</dd>
        </div>
        <div>
          <dt>Created</dt>
          <dd title={fmtTime(s.created_at)}>{fmtAgo(s.created_at)}</dd>
        </div>
        {s.owner && (
          <div>
            <dt>Owner</dt>
            <dd>{s.owner}</dd>
          </div>
        )}
        {s.reason && !['completed', 'stopped'].includes(s.reason) && (
          <div className="wide">
            <dt>Reason</dt>
            <dd>{s.reason}</dd>
          </div>
        )}
        {best && s.best_value !== undefined && (
          <div className="wide" data-testid="best-trial">
            <dt>Best trial</dt>
            <dd>
              #{best.number}: {s.metric} = <strong>{fmtNum(toNumber(s.best_value))}</strong> at step {best.step}
              {best.jobs?.length ? (
                <>
                  {' '}
                  — <Link to={`/runs/${enc(best.jobs[best.jobs.length - 1])}`}>its run</Link>
                </>
              ) : null}
            </dd>
          </div>
        )}
      </dl>
      <div className="chart-grid">
        <BestSoFar sweep={s} trials={trials} />
        <TrialCurves sweep={s} trials={trials} runs={byId} />
        <ParallelPlot sweep={s} trials={trials} />
        <ParamScatter sweep={s} trials={trials} />
      </div>
      <h2>Trials</h2>
      {trials.length === 0 ? <p className="muted">No trial has started yet.</p> : <TrialsTable sweep={s} trials={trials} />}
    </div>
  );
}
