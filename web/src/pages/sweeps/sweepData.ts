// Shaping a sweep's trials for its page: configs as flat columns, the
// best-so-far curve, and the rows of the parallel-coordinates and scatter
// charts. Pure, unit-tested.
import { toNumber, type Sweep, type Trial } from '../../api/types';

export type Mode = 'min' | 'max';

/** flatConfig flattens a nested config into dotted keys ({model: {depth: 3}} → {"model.depth": 3}). */
export function flatConfig(cfg: Record<string, unknown> | undefined, prefix = '', out: Record<string, unknown> = {}): Record<string, unknown> {
  for (const [k, v] of Object.entries(cfg ?? {})) {
    const key = prefix ? `${prefix}.${k}` : k;
    if (v && typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length > 0) flatConfig(v as Record<string, unknown>, key, out);
    else out[key] = v;
  }
  return out;
}

/** paramNames lists the parameters the trials have, in order. */
export function paramNames(trials: Trial[]): string[] {
  const names = new Set<string>();
  for (const t of trials) Object.keys(flatConfig(t.config)).forEach((k) => names.add(k));
  return [...names].sort();
}

/** valueOf is a trial's last accepted value of the sweep's metric (NaN when none). */
export function valueOf(t: Trial): number {
  return t.value === undefined ? NaN : toNumber(t.value);
}

export const ENDED = new Set(['COMPLETED', 'STOPPED', 'FAILED']);

/**
 * bestSoFar is the curve of the best final value among the completed
 * trials, in the order they ended: x counts the trials ended so far (any
 * way), y is the best value then, NaN before the first completed one.
 */
export function bestSoFar(trials: Trial[], mode: Mode): { x: number[]; y: number[]; trial: number[] } {
  const ended = trials.filter((t) => ENDED.has(t.state)).sort((a, b) => (a.ended_at ?? '').localeCompare(b.ended_at ?? '') || a.number - b.number);
  const x: number[] = [], y: number[] = [], trial: number[] = [];
  let best = NaN, who = 0;
  ended.forEach((t, i) => {
    const v = valueOf(t);
    if (t.state === 'COMPLETED' && !Number.isNaN(v) && (Number.isNaN(best) || (mode === 'max' ? v > best : v < best))) {
      best = v;
      who = t.number;
    }
    x.push(i + 1);
    y.push(best);
    trial.push(who);
  });
  return { x, y, trial };
}

/** Dim is one axis of the parallel-coordinates chart. */
export interface Dim {
  name: string;
  /** category axis: the values seen, in order */
  categories?: string[];
}

/**
 * parallelRows gives an axis per parameter (numbers on a value axis, the
 * rest as categories) and one for the metric, and a row per trial with a
 * value; trials whose config lacks a parameter (conditional ones) get an
 * empty category "—".
 */
export function parallelRows(trials: Trial[], metric: string): { dims: Dim[]; rows: (number | string)[][]; numbers: number[] } {
  const names = paramNames(trials);
  const flats = trials.map((t) => flatConfig(t.config));
  const dims: Dim[] = names.map((n) => {
    const vals = flats.map((f) => f[n]);
    const numeric = vals.every((v) => v === undefined || typeof v === 'number');
    if (numeric && vals.some((v) => v !== undefined)) return { name: n };
    const cats = [...new Set(vals.map(catOf))].sort();
    return { name: n, categories: cats };
  });
  dims.push({ name: metric });
  const rows: (number | string)[][] = [], numbers: number[] = [];
  trials.forEach((t, i) => {
    const v = valueOf(t);
    if (Number.isNaN(v)) return;
    rows.push([...dims.slice(0, -1).map((d) => (d.categories ? catOf(flats[i][d.name]) : (flats[i][d.name] as number) ?? NaN)), v]);
    numbers.push(t.number);
  });
  return { dims, rows, numbers };
}

function catOf(v: unknown): string {
  return v === undefined ? '—' : String(v);
}

/** scatterPoints are [parameter value, metric value, trial] for trials with both. */
export function scatterPoints(trials: Trial[], param: string): { points: [number | string, number, number][]; categorical: boolean } {
  const points: [number | string, number, number][] = [];
  let categorical = false;
  for (const t of trials) {
    const p = flatConfig(t.config)[param];
    const v = valueOf(t);
    if (p === undefined || Number.isNaN(v)) continue;
    if (typeof p !== 'number') categorical = true;
    points.push([typeof p === 'number' ? p : String(p), v, t.number]);
  }
  if (categorical) points.forEach((p) => (p[0] = String(p[0])));
  return { points, categorical };
}

/** isLogScale guesses a log axis for a positive parameter spanning more than two decades. */
export function isLogScale(values: number[]): boolean {
  const pos = values.filter((v) => v > 0);
  if (pos.length !== values.length || pos.length < 2) return false;
  return Math.max(...pos) / Math.min(...pos) > 100;
}

/** progress says how many trials ended of how many. */
export function progress(s: Sweep): { ended: number; total: number } {
  const c = s.counts ?? {};
  const ended = (c.COMPLETED ?? 0) + (c.STOPPED ?? 0) + (c.FAILED ?? 0);
  const started = Object.values(c).reduce((a, b) => a + b, 0);
  return { ended, total: s.max_trials > 0 ? s.max_trials : started };
}

/** searchLabel is "tpe + asha". */
export function searchLabel(s: Sweep): string {
  return s.stopper ? `${s.searcher} + ${s.stopper}` : s.searcher;
}
