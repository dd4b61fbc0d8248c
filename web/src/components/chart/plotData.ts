// From series to what uPlot draws in its faceted mode (each line with its
// own x values, as runs rarely share steps or times), and what cannot be
// drawn as a line: lone points (drawn as markers) and NaN and ±Inf (drawn
// as marks at the chart's edges and named in a note).
import { ema, plotValues, xValues, type SeriesData, type XMode } from '../../lib/series';
import type { Underlay } from './bandsPlugin';

export interface PlotLine {
  id: string;
  label: string;
  color: string;
  data?: SeriesData;
  /** the run's start, Unix ms, for relative time */
  t0: number;
}

/** A value that has no place on the y axis, marked at the chart's edge. */
export type EdgeKind = 'nan' | '+inf' | '-inf';

/** EdgeMarks are a line's non-finite values: at xs[i], kinds[i]. */
export interface EdgeMarks {
  xs: number[];
  kinds: EdgeKind[];
}

/** What a line could not draw as a line, counted for the chart's note. */
export interface Undrawable {
  nan: number;
  posInf: number;
  negInf: number;
  /** values ≤ 0 on a log scale */
  notPositive: number;
  /** counts are of downsampling buckets, not of points */
  buckets: boolean;
}

export interface PlotData {
  /** uPlot mode-2 data: null, then [xs, ys] per line */
  facets: [null, ...[number[], (number | null)[]][]];
  underlays: Underlay[];
  /** the values drawn (null: a gap), for the y range */
  ys: (number | null)[][];
  /** the values as logged (smoothed when asked), NaN and ±Inf included, for the legend */
  values: number[][];
  xs: number[][];
  /** per line, the indices of points with no drawable neighbour: a line cannot show them, markers do */
  lone: number[][];
  edges: EdgeMarks[];
  undrawable: Undrawable;
}

export function buildPlot(lines: PlotLine[], xMode: XMode, logY: boolean, smoothing: number): PlotData {
  const facets: PlotData['facets'] = [null];
  const out: Omit<PlotData, 'facets'> = {
    underlays: [],
    ys: [],
    values: [],
    xs: [],
    lone: [],
    edges: [],
    undrawable: { nan: 0, posInf: 0, negInf: 0, notPositive: 0, buckets: false },
  };
  for (const l of lines) {
    // Data fetched for a chart by step has no times: until it is fetched
    // again for the time axis just chosen, the line is empty.
    const d = l.data && (xMode === 'step' || l.data.times.length === l.data.steps.length) ? l.data : undefined;
    if (!d) {
      facets.push([[], []]);
      out.underlays.push({ color: l.color, xs: [] });
      out.ys.push([]);
      out.values.push([]);
      out.xs.push([]);
      out.lone.push([]);
      out.edges.push({ xs: [], kinds: [] });
      continue;
    }
    // Relative time counts from the run's start, or from its first point if that came earlier (imported runs).
    let xs = xValues(d, xMode, d.times.length ? Math.min(l.t0, d.times[0]) : l.t0);
    let vals = d.values, mins = d.min, maxs = d.max;
    if (xMode !== 'step' && !isSorted(xs)) {
      // times can go backwards (clock changes, resumed runs): sort by x for a clean line
      const order = xs.map((_, i) => i).sort((a, b) => xs[a] - xs[b]);
      const pick = <T,>(a: T[]) => order.map((i) => a[i]);
      xs = pick(xs);
      vals = pick(vals);
      mins = mins && pick(mins);
      maxs = maxs && pick(maxs);
    }
    const shown = smoothing > 0 ? ema(vals, smoothing) : vals;
    const y = plotValues(shown, logY);
    facets.push([xs, y]);
    out.ys.push(y);
    out.values.push(shown);
    out.xs.push(xs);
    out.lone.push(loneIndices(y));
    out.edges.push(edgeMarks(xs, vals, mins, maxs, out.undrawable));
    if (logY) for (const v of vals) if (v <= 0) out.undrawable.notPositive++;
    out.undrawable.buckets ||= d.downsampled;
    out.underlays.push({
      color: l.color,
      xs,
      min: mins && plotValues(mins, logY),
      max: maxs && plotValues(maxs, logY),
      raw: smoothing > 0 ? plotValues(vals, logY) : undefined,
    });
  }
  return { facets, ...out };
}

/** loneIndices are the drawable points whose neighbours are both gaps (or absent): a line through them draws nothing. */
export function loneIndices(y: (number | null)[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < y.length; i++) {
    if (y[i] != null && (i === 0 || y[i - 1] == null) && (i === y.length - 1 || y[i + 1] == null)) out.push(i);
  }
  return out;
}

/**
 * markedPoints are the indices of line i's points to draw as markers: all
 * of them when they are 12 px or more apart on average (a few points make
 * a poor line), else its lone points; null when none.
 */
export function markedPoints(p: PlotData, i: number, plotWidth: number): number[] | null {
  const y = p.ys[i];
  if (!y?.length) return null;
  if (y.length * 12 <= plotWidth) {
    const all: number[] = [];
    for (let j = 0; j < y.length; j++) if (y[j] != null) all.push(j);
    return all.length ? all : null;
  }
  return p.lone[i].length ? p.lone[i] : null;
}

/**
 * edgeMarks finds the non-finite values of a line: a NaN value, an
 * infinite value, or (downsampled) a bucket whose max is +Inf or min is
 * −Inf, so that an infinity inside a bucket shows as a spike would.
 */
function edgeMarks(xs: number[], vals: number[], mins: number[] | undefined, maxs: number[] | undefined, count: Undrawable): EdgeMarks {
  const m: EdgeMarks = { xs: [], kinds: [] };
  const add = (x: number, k: EdgeKind) => {
    m.xs.push(x);
    m.kinds.push(k);
    if (k === 'nan') count.nan++;
    else if (k === '+inf') count.posInf++;
    else count.negInf++;
  };
  for (let i = 0; i < vals.length; i++) {
    const v = vals[i];
    if (Number.isFinite(v) && (!maxs || Number.isFinite(maxs[i])) && (!mins || Number.isFinite(mins[i]))) continue;
    if (Number.isNaN(v)) add(xs[i], 'nan');
    if (v === Infinity || maxs?.[i] === Infinity) add(xs[i], '+inf');
    if (v === -Infinity || mins?.[i] === -Infinity) add(xs[i], '-inf');
  }
  return m;
}

/** undrawableNote says what a chart could not draw as lines and where it shows it; '' when nothing. */
export function undrawableNote(u: Undrawable): string {
  const n = (c: number) => (u.buckets ? '' : `${c.toLocaleString('en-US')} `);
  const parts: string[] = [];
  if (u.nan) parts.push(`${n(u.nan)}NaN (× on the bottom edge)`);
  if (u.posInf) parts.push(`${n(u.posInf)}+Inf (▲ on the top edge)`);
  if (u.negInf) parts.push(`${n(u.negInf)}−Inf (▼ on the bottom edge)`);
  if (u.notPositive) parts.push(`${u.notPositive.toLocaleString('en-US')} values ≤ 0 hidden by the log scale`);
  return parts.length ? `Not drawn as lines: ${parts.join(', ')}.` : '';
}

function isSorted(a: number[]): boolean {
  for (let i = 1; i < a.length; i++) if (a[i] < a[i - 1]) return false;
  return true;
}

/** nearestIndex finds the index of the x closest to x in sorted xs; -1 when empty. */
export function nearestIndex(xs: number[], x: number): number {
  if (xs.length === 0) return -1;
  let lo = 0, hi = xs.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (xs[mid] < x) lo = mid + 1;
    else hi = mid;
  }
  if (lo > 0 && Math.abs(xs[lo - 1] - x) <= Math.abs(xs[lo] - x)) return lo - 1;
  return lo;
}

/**
 * visibleRange is the y extent of the shown lines and their min/max bands
 * between x0 and x1 (all of it when they are unset), so a spike that only
 * the band carries stays on the chart; null when nothing is drawable.
 */
export function visibleRange(p: PlotData, hidden: Set<number>, x0?: number | null, x1?: number | null): [number, number] | null {
  let lo = Infinity, hi = -Infinity;
  const lowX = x0 ?? -Infinity, highX = x1 ?? Infinity;
  const scan = (xs: number[], c: (number | null)[] | undefined) => {
    if (!c) return;
    for (let j = 0; j < xs.length; j++) {
      const v = c[j];
      if (v == null || xs[j] < lowX || xs[j] > highX) continue;
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
  };
  for (let i = 0; i < p.xs.length; i++) {
    if (hidden.has(i)) continue;
    scan(p.xs[i], p.ys[i]);
    scan(p.xs[i], p.underlays[i]?.min);
    scan(p.xs[i], p.underlays[i]?.max);
  }
  return lo <= hi ? [lo, hi] : null;
}

/** xRange is the x extent uPlot should show: a single x (one point) gets room on both sides. */
export function xRange(min: number | null, max: number | null, xMode: XMode): [number, number] {
  if (min == null || max == null) return [0, 1];
  if (min !== max) return [min, max];
  const pad = xMode === 'time' ? 60 : 1;
  return [min - pad, max + pad];
}
