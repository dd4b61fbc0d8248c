// Grouping a run's metric keys for the charts tab and the system tab.
import { isSystemMetric } from '../../lib/columns';

/** groupByPrefix groups keys by what comes before their first slash ("train/loss" → "train"); keys without one go under "". */
export function groupByPrefix(keys: string[]): [string, string[]][] {
  const groups = new Map<string, string[]>();
  for (const k of [...keys].sort()) {
    const i = k.indexOf('/');
    const g = i > 0 ? k.slice(0, i) : '';
    if (!groups.has(g)) groups.set(g, []);
    groups.get(g)!.push(k);
  }
  return [...groups.entries()].sort(([a], [b]) => (a === '' ? -1 : b === '' ? 1 : a.localeCompare(b)));
}

export interface SystemChartSpec {
  title: string;
  unit: 'percent' | 'bytes' | 'number';
  /** [key, line label] */
  lines: [string, string][];
}

const GPU_RE = /^system\/gpu\.(\d+)\.(.+)$/;

/**
 * systemCharts lays out the SDK's system metrics: CPU, memory, and one
 * chart per GPU reading with a line per GPU; other system/ keys get a
 * chart each.
 */
export function systemCharts(keys: string[]): SystemChartSpec[] {
  const have = new Set(keys.filter(isSystemMetric));
  const out: SystemChartSpec[] = [];
  const take = (title: string, unit: SystemChartSpec['unit'], lines: [string, string][]) => {
    const present = lines.filter(([k]) => have.has(k));
    present.forEach(([k]) => have.delete(k));
    if (present.length) out.push({ title, unit, lines: present });
  };
  take('CPU utilisation', 'percent', [['system/cpu_percent', 'CPU']]);
  take('Memory utilisation', 'percent', [['system/memory_percent', 'memory']]);
  take('Memory used', 'bytes', [
    ['system/memory_used_bytes', 'machine'],
    ['system/process_rss_bytes', 'process RSS'],
  ]);
  const gpus = new Map<string, [string, string][]>();
  for (const k of [...have].sort(byGpuIndex)) {
    const m = GPU_RE.exec(k);
    if (!m) continue;
    if (!gpus.has(m[2])) gpus.set(m[2], []);
    gpus.get(m[2])!.push([k, `GPU ${m[1]}`]);
  }
  const gpuTitles: [string, string, SystemChartSpec['unit']][] = [
    ['utilization', 'GPU utilisation', 'percent'],
    ['memory_used_bytes', 'GPU memory used', 'bytes'],
    ['memory_percent', 'GPU memory used (%)', 'percent'],
  ];
  for (const [reading, title, unit] of gpuTitles) if (gpus.has(reading)) take(title, unit, gpus.get(reading)!);
  for (const [reading, lines] of gpus) if (lines.some(([k]) => have.has(k))) take(`GPU ${reading}`, reading.endsWith('bytes') ? 'bytes' : 'number', lines);
  for (const k of [...have].sort()) take(k.slice('system/'.length), k.endsWith('bytes') ? 'bytes' : k.endsWith('percent') ? 'percent' : 'number', [[k, k]]);
  return out;
}

function byGpuIndex(a: string, b: string): number {
  const ma = GPU_RE.exec(a), mb = GPU_RE.exec(b);
  if (ma && mb && ma[2] === mb[2]) return Number(ma[1]) - Number(mb[1]);
  return a.localeCompare(b);
}
