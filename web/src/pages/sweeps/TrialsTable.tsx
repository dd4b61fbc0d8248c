import type { Sweep, Trial } from '../../api/types';
import { fmtNum, fmtValue } from '../../lib/format';
import { Link } from '../../router';
import { SweepBadge } from './SweepsPage';
import { flatConfig, paramNames, valueOf } from './sweepData';

/**
 * TrialsTable lists a sweep's trials: state, step reached (of the step the
 * current segment runs to), the metric's last value, each parameter, and
 * the runs of its jobs (one per segment: start, resumes, retries).
 */
export function TrialsTable({ sweep, trials }: { sweep: Sweep; trials: Trial[] }) {
  const params = paramNames(trials);
  return (
    <div className="table-scroll">
      <table className="table trials" aria-label="Trials">
        <thead>
          <tr>
            <th scope="col">Trial</th>
            <th scope="col">State</th>
            <th scope="col" className="num">
              Step
            </th>
            <th scope="col" className="num">
              {sweep.metric}
            </th>
            {params.map((p) => (
              <th key={p} scope="col">
                {p}
              </th>
            ))}
            <th scope="col">Runs</th>
            <th scope="col">Reason</th>
          </tr>
        </thead>
        <tbody>
          {trials.map((t) => {
            const cfg = flatConfig(t.config);
            const v = valueOf(t);
            const best = t.number === sweep.best_trial;
            return (
              <tr key={t.number} className={best ? 'best' : undefined} data-trial={t.number}>
                <td>
                  {t.number}
                  {best && (
                    <span className="best-mark" title="best trial">
                      {' '}
                      ★
                    </span>
                  )}
                </td>
                <td>
                  <SweepBadge state={t.state} />
                  {t.directive && <span className="muted small"> ({t.directive})</span>}
                </td>
                <td className="num">
                  {t.step}
                  {t.until && !['COMPLETED', 'STOPPED', 'FAILED'].includes(t.state) ? <span className="muted">/{t.until}</span> : null}
                </td>
                <td className="num">{Number.isNaN(v) && t.value === undefined ? '—' : fmtNum(v)}</td>
                {params.map((p) => (
                  <td key={p}>{p in cfg ? fmtValue(cfg[p]) : <span className="muted">—</span>}</td>
                ))}
                <td>
                  {(t.jobs ?? []).map((id, i) => (
                    <span key={id}>
                      {i > 0 && ' '}
                      <Link to={`/runs/${encodeURIComponent(id)}`} className="mono small" title={i === 0 ? 'first segment' : `segment ${i + 1}`}>
                        {id.slice(0, 8)}
                      </Link>
                    </span>
                  ))}
                  {t.retries ? <span className="muted small"> ({t.retries} retried)</span> : null}
                </td>
                <td className="muted small">{t.reason}</td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}
