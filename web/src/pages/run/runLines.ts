import type { Run } from '../../api/types';
import type { ChartLine } from '../../components/chart/SeriesChart';
import { seriesColor } from '../../lib/colors';

export const runStart = (run: Run) => Date.parse(run.started_at || run.created_at);

/** lineOf is a chart line for one of a run's metrics, carrying its summary so the chart follows it live. */
export function lineOf(run: Run, key: string, label: string, colorIndex: number): ChartLine {
  const m = run.metrics[key];
  return {
    id: `${run.id}/${key}`,
    runId: run.id,
    key,
    label,
    color: seriesColor(colorIndex),
    t0: runStart(run),
    count: m?.count ?? 0,
    lastStep: m?.last_step ?? -1,
  };
}
