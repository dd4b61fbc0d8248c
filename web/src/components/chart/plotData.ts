// From series to what uPlot draws in its faceted mode (each line with its
// own x values, as runs rarely share steps or times).
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

export interface PlotData {
  /** uPlot mode-2 data: null, then [xs, ys] per line */
  facets: [null, ...[number[], (number | null)[]][]];
  underlays: Underlay[];
  /** the values drawn, for the legend */
  ys: (number | null)[][];
  xs: number[][];
}

export function buildPlot(lines: PlotLine[], xMode: XMode, logY: boolean, smoothing: number): PlotData {
  const facets: PlotData['facets'] = [null];
  const underlays: Underlay[] = [];
  const ys: (number | null)[][] = [];
  const xsAll: number[][] = [];
  for (const l of lines) {
    const d = l.data;
    if (!d) {
      facets.push([[], []]);
      underlays.push({ color: l.color, xs: [] });
      ys.push([]);
      xsAll.push([]);
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
    const y = plotValues(smoothing > 0 ? ema(vals, smoothing) : vals, logY);
    facets.push([xs, y]);
    ys.push(y);
    xsAll.push(xs);
    underlays.push({
      color: l.color,
      xs,
      min: mins && plotValues(mins, logY),
      max: maxs && plotValues(maxs, logY),
      raw: smoothing > 0 ? plotValues(vals, logY) : undefined,
    });
  }
  return { facets, underlays, ys, xs: xsAll };
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
  p.xs.forEach((xs, i) => {
    if (hidden.has(i)) return;
    const u = p.underlays[i];
    const cols = [p.ys[i], u?.min, u?.max].filter((c): c is (number | null)[] => !!c);
    for (let j = 0; j < xs.length; j++) {
      if (xs[j] < lowX || xs[j] > highX) continue;
      for (const c of cols) {
        const v = c[j];
        if (v == null) continue;
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  });
  return lo <= hi ? [lo, hi] : null;
}
