import { useQueryParam } from '../../router';
import { X_MODES, type XMode } from '../../lib/series';
import type { ChartView } from './SeriesChart';

/** useChartView keeps the x axis, log scale and smoothing in the URL (x=, log=, smooth=). */
export function useChartView(defaultX: XMode = 'step'): [ChartView, (v: Partial<ChartView>) => void] {
  const [x, setX] = useQueryParam('x', defaultX);
  const [log, setLog] = useQueryParam('log', '');
  const [smooth, setSmooth] = useQueryParam('smooth', '0');
  const xMode = (X_MODES.some((m) => m.id === x) ? x : defaultX) as XMode;
  const smoothing = Math.min(0.99, Math.max(0, Number(smooth) || 0));
  const view = { xMode, logY: log === '1', smoothing };
  const set = (v: Partial<ChartView>) => {
    if (v.xMode !== undefined) setX(v.xMode);
    if (v.logY !== undefined) setLog(v.logY ? '1' : null);
    if (v.smoothing !== undefined) setSmooth(v.smoothing ? String(v.smoothing) : null);
  };
  return [view, set];
}

/** ChartControls chooses the x axis, a log y scale and EMA smoothing for every chart on the page. */
export function ChartControls({ view, onChange }: { view: ChartView; onChange: (v: Partial<ChartView>) => void }) {
  return (
    <div className="chart-controls" role="group" aria-label="Chart options">
      <label>
        X axis{' '}
        <select value={view.xMode} onChange={(e) => onChange({ xMode: e.target.value as XMode })}>
          {X_MODES.map((m) => (
            <option key={m.id} value={m.id}>
              {m.label}
            </option>
          ))}
        </select>
      </label>
      <label>
        <input type="checkbox" checked={view.logY} onChange={(e) => onChange({ logY: e.target.checked })} /> Log scale
      </label>
      <label>
        Smoothing{' '}
        <input
          type="range"
          min={0}
          max={0.99}
          step={0.01}
          value={view.smoothing}
          aria-valuetext={view.smoothing ? `EMA ${view.smoothing}` : 'off'}
          onChange={(e) => onChange({ smoothing: Number(e.target.value) })}
        />{' '}
        <output className="mono">{view.smoothing ? view.smoothing.toFixed(2) : 'off'}</output>
      </label>
      <span className="muted small">Drag on a chart to zoom, double-click to reset.</span>
    </div>
  );
}
