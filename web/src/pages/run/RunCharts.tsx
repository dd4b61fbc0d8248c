import { useMemo, useState } from 'react';
import type { Run } from '../../api/types';
import { ChartControls, useChartView } from '../../components/chart/ChartControls';
import { SeriesChart } from '../../components/chart/SeriesChart';
import { Empty } from '../../components/States';
import { isSystemMetric } from '../../lib/columns';
import { groupByPrefix } from './metricGroups';
import { lineOf } from './runLines';

/** RunCharts draws each of a run's metrics, grouped by prefix, updating while the run logs. */
export function RunCharts({ run }: { run: Run }) {
  const [view, setView] = useChartView();
  const [find, setFind] = useState('');
  const keys = Object.keys(run.metrics).filter((k) => !isSystemMetric(k));
  const groups = groupByPrefix(keys.filter((k) => k.toLowerCase().includes(find.toLowerCase())));
  const sig = keys.map((k) => `${k}:${run.metrics[k].count}:${run.metrics[k].last_step}`).join('|');
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const lines = useMemo(() => new Map(keys.map((k) => [k, [lineOf(run, k, run.name, 0)]])), [run.id, sig, run.name]);

  if (keys.length === 0) {
    return (
      <Empty title="No metrics yet">
        <p>
          Log them from the training script: <code>run.log(&#123;"loss": loss&#125;, step=step)</code>. Charts appear here as points arrive.
        </p>
      </Empty>
    );
  }
  return (
    <div>
      <div className="chart-toolbar">
        <ChartControls view={view} onChange={setView} />
        {keys.length > 6 && (
          <input type="search" placeholder="Find a metric…" value={find} onChange={(e) => setFind(e.target.value)} aria-label="Find a metric" />
        )}
      </div>
      {groups.map(([group, ks]) => (
        <section key={group} className="chart-group" aria-label={group || 'Metrics'}>
          {group && <h2 className="group-title">{group}</h2>}
          <div className="chart-grid">
            {ks.map((k) => (
              <SeriesChart key={k} title={k} lines={lines.get(k)!} view={view} />
            ))}
          </div>
        </section>
      ))}
    </div>
  );
}
