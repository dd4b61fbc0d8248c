import type { XMode } from '../../lib/series';
import { fmtX, fmtY, type YUnit } from './options';

export interface LegendRow {
  id: string;
  label: string;
  color: string;
  value: number | null;
  hidden: boolean;
}

interface Props {
  rows: LegendRow[];
  /** the x under the cursor; undefined shows the latest values */
  atCursor?: number;
  xMode: XMode;
  yUnit?: YUnit;
  onToggle: (i: number) => void;
}

/** ChartLegend lists the lines with their value under the cursor (or latest); a click hides or shows a line. */
export function ChartLegend({ rows, atCursor, xMode, yUnit, onToggle }: Props) {
  return (
    <div className="legend">
      <div className="legend-at muted">{atCursor === undefined ? 'latest' : fmtX(atCursor, xMode)}</div>
      <ul className={rows.length > 8 ? 'legend-rows many' : 'legend-rows'}>
        {rows.map((r, i) => (
          <li key={r.id}>
            <button
              type="button"
              className={r.hidden ? 'legend-item off' : 'legend-item'}
              aria-pressed={!r.hidden}
              title={r.hidden ? `Show ${r.label}` : `Hide ${r.label}`}
              onClick={() => onToggle(i)}
            >
              <span className="swatch" style={{ background: r.color }} />
              <span className="legend-label">{r.label}</span>
              <span className="legend-value">{fmtY(r.value, yUnit)}</span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
