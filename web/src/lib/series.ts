// Shaping metric series for charts: the API's columns into numbers, live
// tails appended, x values per axis mode, smoothing and log-scale care.
import { toNumber, type Series } from '../api/types';

export interface SeriesData {
  key: string;
  /** points in the range asked for, before downsampling */
  total: number;
  downsampled: boolean;
  steps: number[];
  values: number[];
  /** Unix milliseconds; empty when fetched for a chart by step */
  times: number[];
  /** per bucket, when downsampled */
  min?: number[];
  max?: number[];
}

export function fromApi(s: Series): SeriesData {
  const nums = (a: Series['values']) => a.map(toNumber);
  return {
    key: s.key,
    total: s.total,
    downsampled: s.downsampled,
    steps: s.steps,
    values: nums(s.values),
    times: s.timestamps,
    min: s.downsampled && s.min ? nums(s.min) : undefined,
    max: s.downsampled && s.max ? nums(s.max) : undefined,
  };
}

export const lastStep = (d: SeriesData): number => (d.steps.length ? d.steps[d.steps.length - 1] : -1);

/** appendTail adds the points of a tail fetched from lastStep+1 to raw (not downsampled) data. */
export function appendTail(d: SeriesData, tail: SeriesData): SeriesData {
  const after = lastStep(d);
  let i = 0;
  while (i < tail.steps.length && tail.steps[i] <= after) i++;
  if (i === tail.steps.length) return d;
  return {
    ...d,
    total: d.total + tail.steps.length - i,
    steps: d.steps.concat(tail.steps.slice(i)),
    values: d.values.concat(tail.values.slice(i)),
    // data fetched without times (a chart by step) stays without them
    times: d.times.length === d.steps.length ? d.times.concat(tail.times.slice(i)) : d.times,
  };
}

/** What to fetch when a run's summary of a metric says it has count points up to lastStep. */
export type FetchPlan = { kind: 'none' } | { kind: 'full' } | { kind: 'tail'; startStep: number };

/**
 * planFetch fetches only the new points while the whole series fits the
 * chart undownsampled, and the downsampled series again otherwise.
 */
export function planFetch(have: SeriesData | undefined, count: number, summaryLastStep: number, maxPoints: number): FetchPlan {
  if (!have) return { kind: 'full' };
  if (count === have.total && summaryLastStep === lastStep(have)) return { kind: 'none' };
  if (!have.downsampled && count <= maxPoints && count > have.total && summaryLastStep > lastStep(have)) {
    return { kind: 'tail', startStep: lastStep(have) + 1 };
  }
  return { kind: 'full' };
}

export type XMode = 'step' | 'time' | 'relative';
export const X_MODES: { id: XMode; label: string }[] = [
  { id: 'step', label: 'Step' },
  { id: 'time', label: 'Wall time' },
  { id: 'relative', label: 'Relative time' },
];

/** xValues: steps; wall time in Unix seconds (uPlot's time unit); or seconds since t0Ms. */
export function xValues(d: SeriesData, mode: XMode, t0Ms: number): number[] {
  if (mode === 'step') return d.steps;
  if (mode === 'time') return d.times.map((t) => t / 1000);
  return d.times.map((t) => (t - t0Ms) / 1000);
}

/**
 * ema smooths as TensorBoard does: an exponential moving average with
 * weight in [0, 1), debiased so the start is not pulled towards zero.
 * Values that are not finite are kept as they are and skipped.
 */
export function ema(values: number[], weight: number): number[] {
  if (weight <= 0) return values;
  const out = new Array<number>(values.length);
  let last = 0, n = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isFinite(v)) {
      out[i] = v;
      continue;
    }
    last = last * weight + (1 - weight) * v;
    n++;
    out[i] = last / (1 - Math.pow(weight, n));
  }
  return out;
}

/** plotValues makes values drawable: NaN and infinities (and, on a log scale, values ≤ 0) become gaps. */
export function plotValues(values: number[], logY: boolean): (number | null)[] {
  return values.map((v) => (!Number.isFinite(v) || (logY && v <= 0) ? null : v));
}

/** pointsLabel says how many points a chart shows of how many logged. */
export function pointsLabel(series: (SeriesData | undefined)[]): string {
  let shown = 0, total = 0, down = false;
  for (const s of series) {
    if (!s) continue;
    shown += s.steps.length;
    total += s.total;
    down ||= s.downsampled;
  }
  const f = (n: number) => n.toLocaleString('en-US');
  const points = `${f(total)} point${total === 1 ? '' : 's'}`;
  return down ? `${points}, ${f(shown)} shown (min/max kept)` : points;
}
