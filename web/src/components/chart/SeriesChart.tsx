import { useMemo, useRef, useState } from 'react';
import { useSeriesData, type SeriesSource } from '../../api/useSeriesData';
import { pointsLabel, type XMode } from '../../lib/series';
import { MetricChart } from './MetricChart';
import type { YUnit } from './options';
import { bucketWidth, useSeen, useWidth } from './useSize';

/** ChartLine is a line to draw: a run's metric with its label and colour. */
export interface ChartLine extends SeriesSource {
  id: string;
  label: string;
  color: string;
  /** the run's start, Unix ms, for relative time */
  t0: number;
}

export interface ChartView {
  xMode: XMode;
  logY: boolean;
  smoothing: number;
}

interface Props {
  title: string;
  lines: ChartLine[];
  view: ChartView;
  yUnit?: YUnit;
  height?: number;
}

/**
 * SeriesChart is a titled chart card: once near the viewport it fetches
 * every line downsampled to its pixel width (more detail on drag-zoom by
 * step), follows the runs' summaries for live updates, and draws.
 */
export function SeriesChart({ title, lines, view, yUnit, height = 220 }: Props) {
  const ref = useRef<HTMLElement>(null);
  const body = useRef<HTMLDivElement>(null);
  const width = useWidth(body);
  const seen = useSeen(ref);
  const [range, setRange] = useState<[number, number] | null>(null);
  const { data, errors, ready } = useSeriesData(lines, bucketWidth(width), range, seen, view.xMode !== 'step');
  const plotLines = useMemo(
    () => lines.map((l, i) => ({ id: l.id, label: l.label, color: l.color, t0: l.t0, data: data[i] })),
    [lines, data],
  );
  const failed = errors.filter(Boolean);
  return (
    <section ref={ref} className="card chart-card" aria-label={`Chart ${title}`}>
      <header className="chart-head">
        <h3 title={title}>{title}</h3>
        <span className="muted small">{ready ? pointsLabel(data) : ''}</span>
        {range && (
          <button type="button" className="link-button small" onClick={() => setRange(null)}>
            Reset zoom
          </button>
        )}
      </header>
      {failed.length > 0 && (
        <p className="error small" role="alert">
          {failed.length === lines.length ? 'Could not load this chart' : `${failed.length} of ${lines.length} lines failed to load`}: {failed[0]!.message}
        </p>
      )}
      <div ref={body} className="chart-body">
      {!ready ? (
        <div className="chart-loading muted" style={{ height: height + 40 }}>
          {seen ? 'Loading…' : ''}
        </div>
      ) : (
        <MetricChart
          lines={plotLines}
          width={width}
          height={height}
          xMode={view.xMode}
          logY={view.logY}
          smoothing={view.smoothing}
          yUnit={yUnit}
          onZoom={setRange}
          complete={data.length === lines.length && data.every((d, i) => d || errors[i])}
        />
      )}
      </div>
    </section>
  );
}
