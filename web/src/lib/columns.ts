// The runs table's columns: attributes, params (config), metrics (latest,
// min or max) and tags, named by short ids that go into the URL:
//   a:state   p:model.layers   m:last:loss   m:min:val/loss   t:team
import { toNumber, type Run } from '../api/types';
import { fmtDuration, fmtNum, fmtTime, fmtValue, runSeconds } from './format';

export type Agg = 'last' | 'min' | 'max';
export interface Column {
  id: string;
  kind: 'attr' | 'param' | 'metric' | 'tag';
  key: string;
  agg?: Agg;
  label: string;
}

export const ATTRIBUTES: Record<string, string> = {
  name: 'Name',
  state: 'State',
  created: 'Created',
  duration: 'Duration',
  id: 'ID',
  exit_code: 'Exit code',
};

export function parseColumn(id: string): Column | null {
  const [kind, rest] = [id.slice(0, 2), id.slice(2)];
  if (!rest) return null;
  switch (kind) {
    case 'a:':
      return rest in ATTRIBUTES ? { id, kind: 'attr', key: rest, label: ATTRIBUTES[rest] } : null;
    case 'p:':
      return { id, kind: 'param', key: rest, label: rest };
    case 't:':
      return { id, kind: 'tag', key: rest, label: `tag ${rest}` };
    case 'm:': {
      const i = rest.indexOf(':');
      const agg = rest.slice(0, i) as Agg;
      const key = rest.slice(i + 1);
      if (i < 0 || !key || !['last', 'min', 'max'].includes(agg)) return null;
      return { id, kind: 'metric', key, agg, label: agg === 'last' ? key : `${key} (${agg})` };
    }
  }
  return null;
}

export const metricColumnId = (key: string, agg: Agg = 'last') => `m:${agg}:${key}`;

/** cellValue is a run's raw value in a column, for sorting; undefined when it has none. */
export function cellValue(run: Run, col: Column): number | string | undefined {
  switch (col.kind) {
    case 'attr':
      switch (col.key) {
        case 'name':
          return run.name;
        case 'state':
          return run.state;
        case 'created':
          return Date.parse(run.created_at);
        case 'duration':
          return run.started_at ? runSeconds(run) : undefined;
        case 'id':
          return run.id;
        case 'exit_code':
          return run.exit_code;
      }
      return undefined;
    case 'param': {
      const v = run.config[col.key];
      return v === undefined ? undefined : typeof v === 'number' ? v : fmtValue(v);
    }
    case 'tag':
      return run.tags[col.key];
    case 'metric': {
      const m = run.metrics[col.key];
      if (!m || m.count === 0) return undefined;
      return toNumber(m[col.agg ?? 'last']);
    }
  }
}

/** cellText is what the table shows. */
export function cellText(run: Run, col: Column): string {
  const v = cellValue(run, col);
  if (v === undefined) return '';
  if (col.kind === 'attr' && col.key === 'created') return fmtTime(run.created_at);
  if (col.kind === 'attr' && col.key === 'duration') return fmtDuration(v as number);
  if (typeof v === 'number') return fmtNum(v);
  return v;
}

/**
 * compareValues orders as the API's order_by does: numbers as numbers
 * (NaN after them), strings that both hold numbers as numbers, other
 * strings as text.
 */
export function compareValues(a: number | string, b: number | string): number {
  if (typeof a === 'number' && typeof b === 'number') {
    if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) ? (Number.isNaN(b) ? 0 : 1) : -1;
    return a < b ? -1 : a > b ? 1 : 0;
  }
  if (typeof a === 'number') return -1;
  if (typeof b === 'number') return 1;
  const fa = Number(a), fb = Number(b);
  if (a.trim() !== '' && b.trim() !== '' && !Number.isNaN(fa) && !Number.isNaN(fb)) return fa - fb;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** sortRuns sorts stably by a column; runs without a value go last either way. */
export function sortRuns(runs: Run[], col: Column | null, desc: boolean): Run[] {
  if (!col) return runs;
  const keys = runs.map((r) => cellValue(r, col));
  const idx = runs.map((_, i) => i);
  idx.sort((i, j) => {
    const a = keys[i], b = keys[j];
    if (a === undefined || b === undefined) return a === b ? i - j : a === undefined ? 1 : -1;
    const c = compareValues(a, b);
    return c === 0 ? i - j : desc ? -c : c;
  });
  return idx.map((i) => runs[i]);
}

const quoteKey = (k: string) => (/^[A-Za-z_][A-Za-z0-9_.]*$/.test(k) ? k : '`' + k + '`');

/** orderBy is the API's order_by for a column, when the server can sort by it. */
export function orderBy(col: Column | null, desc: boolean): string | undefined {
  if (!col) return undefined;
  const dir = desc ? ' DESC' : ' ASC';
  switch (col.kind) {
    case 'attr':
      return ['name', 'state', 'created', 'id', 'exit_code'].includes(col.key) ? `attributes.${col.key}${dir}` : undefined;
    case 'param':
      return `params.${quoteKey(col.key)}${dir}`;
    case 'tag':
      return `tags.${quoteKey(col.key)}${dir}`;
    case 'metric':
      return col.agg === 'last' ? `metrics.${quoteKey(col.key)}${dir}` : undefined;
  }
}

export interface Keys {
  params: string[];
  metrics: string[];
  tags: string[];
}

/** availableKeys lists the params, metrics and tags the runs have, sorted. */
export function availableKeys(runs: Run[]): Keys {
  const p = new Set<string>(), m = new Set<string>(), t = new Set<string>();
  for (const r of runs) {
    for (const k in r.config) p.add(k);
    for (const k in r.metrics) m.add(k);
    for (const k in r.tags) t.add(k);
  }
  const sorted = (s: Set<string>) => [...s].sort();
  return { params: sorted(p), metrics: sorted(m), tags: sorted(t) };
}

export const isSystemMetric = (k: string) => k.startsWith('system/');

/**
 * defaultColumns picks what a table shows before the user chooses: state,
 * created and duration, the params that differ between runs (up to 4) and
 * the metrics most runs have (up to 4, not system ones).
 */
export function defaultColumns(runs: Run[]): string[] {
  const sample = runs.slice(0, 2000);
  const values = new Map<string, Set<string>>();
  const metricCount = new Map<string, number>();
  for (const r of sample) {
    for (const [k, v] of Object.entries(r.config)) {
      let s = values.get(k);
      if (!s) values.set(k, (s = new Set()));
      if (s.size < 2) s.add(fmtValue(v));
    }
    for (const k in r.metrics) if (!isSystemMetric(k)) metricCount.set(k, (metricCount.get(k) ?? 0) + 1);
  }
  const params = [...values.entries()].filter(([, s]) => s.size > 1).map(([k]) => k).sort().slice(0, 4);
  const metrics = [...metricCount.entries()].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).map(([k]) => k).slice(0, 4).sort();
  return ['a:state', 'a:created', 'a:duration', ...params.map((k) => `p:${k}`), ...metrics.map((k) => metricColumnId(k))];
}
