// The params diff of the compare page.
import type { Run } from '../api/types';
import { fmtValue } from './format';

export interface DiffRow {
  key: string;
  values: string[];
  differs: boolean;
}

/** paramsDiff lines up the runs' config keys; onlyDifferences drops keys where all runs agree. */
export function paramsDiff(runs: Run[], onlyDifferences: boolean): DiffRow[] {
  const keys = new Set<string>();
  for (const r of runs) for (const k in r.config) keys.add(k);
  const rows: DiffRow[] = [];
  for (const key of [...keys].sort()) {
    const values = runs.map((r) => (key in r.config ? fmtValue(r.config[key]) : '—'));
    const differs = values.some((v) => v !== values[0]);
    if (differs || !onlyDifferences) rows.push({ key, values, differs });
  }
  return rows;
}
