import { useMemo } from 'react';
import type { Run } from '../../api/types';
import { ChartControls, useChartView } from '../../components/chart/ChartControls';
import { SeriesChart } from '../../components/chart/SeriesChart';
import { Empty } from '../../components/States';
import { systemCharts } from './metricGroups';
import { lineOf } from './runLines';

/** SystemCharts shows the CPU, memory and GPU use that the SDK logs beside a run. */
export function SystemCharts({ run }: { run: Run }) {
  // System readings are spaced in time, not in training steps.
  const [view, setView] = useChartView('relative');
  const keys = Object.keys(run.metrics);
  const sig = keys.map((k) => `${k}:${run.metrics[k].count}:${run.metrics[k].last_step}`).join('|');
  const specs = useMemo(
    () => systemCharts(keys).map((s) => ({ ...s, lines: s.lines.map(([k, label], i) => lineOf(run, k, label, i)) })),
    // eslint-disable-next-line react-hooks/exhaustive-deps
    [run.id, sig],
  );
  if (specs.length === 0) {
    return (
      <Empty title="No system metrics for this run">
        <p>
          The Python SDK logs CPU, memory and GPU use as <code>system/…</code> metrics every 10 seconds while a run is active (
          <code>trainyard.init(..., system_metrics_interval=10)</code>; 0 turns it off).
        </p>
      </Empty>
    );
  }
  return (
    <div>
      <div className="chart-toolbar">
        <ChartControls view={view} onChange={setView} />
      </div>
      <div className="chart-grid">
        {specs.map((s) => (
          <SeriesChart key={s.title} title={s.title} lines={s.lines} view={view} yUnit={s.unit} />
        ))}
      </div>
    </div>
  );
}
