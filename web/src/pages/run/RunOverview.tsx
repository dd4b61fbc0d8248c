import { toNumber, type Run } from '../../api/types';
import { KeyValues } from '../../components/KeyValues';
import { fmtNum, fmtTime } from '../../lib/format';
import { isSystemMetric } from '../../lib/columns';

/** RunOverview shows a run's config, summary and the latest, min and max of each metric. */
export function RunOverview({ run }: { run: Run }) {
  const metrics = Object.entries(run.metrics)
    .filter(([k]) => !isSystemMetric(k))
    .sort(([a], [b]) => a.localeCompare(b));
  return (
    <div className="overview">
      <section className="card">
        <h2>Config</h2>
        <KeyValues values={run.config} label="Config" empty="This run has no config. Pass one with trainyard.init(config={...})." />
      </section>
      <section className="card">
        <h2>Summary</h2>
        <KeyValues values={run.summary} label="Summary" empty="No summary values. Set them with run.summary[...] = value." />
        <h2>Metrics</h2>
        {metrics.length === 0 ? (
          <p className="muted">No metrics yet. Log them with run.log(&#123;"loss": loss&#125;, step=step).</p>
        ) : (
          <table className="table" aria-label="Metric summaries">
            <thead>
              <tr>
                <th scope="col">Metric</th>
                <th scope="col" className="num">Latest</th>
                <th scope="col" className="num">Min</th>
                <th scope="col" className="num">Max</th>
                <th scope="col" className="num">Points</th>
                <th scope="col" className="num">Last step</th>
                <th scope="col">Updated</th>
              </tr>
            </thead>
            <tbody>
              {metrics.map(([k, m]) => (
                <tr key={k}>
                  <th scope="row" className="mono">{k}</th>
                  <td className="num">{fmtNum(toNumber(m.last))}</td>
                  <td className="num">{fmtNum(toNumber(m.min))}</td>
                  <td className="num">{fmtNum(toNumber(m.max))}</td>
                  <td className="num">{m.count.toLocaleString('en-US')}</td>
                  <td className="num">{m.last_step.toLocaleString('en-US')}</td>
                  <td>{fmtTime(m.last_time)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
