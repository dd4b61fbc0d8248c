import type { Job } from '../../api/types';
import { fmtBytes } from '../../lib/format';

/** resourcesText says what a job asks for: "2 GPUs · 8 CPUs · 64 GiB",
 * with "× 2 nodes" when it spans several (resources count per node). */
export function resourcesText(j: Job): string {
  const r = j.resources;
  const parts = [];
  if (r.gpus) parts.push(`${r.gpus} GPU${r.gpus > 1 ? 's' : ''}`);
  parts.push(`${r.cpus} CPU${r.cpus === 1 ? '' : 's'}`);
  if (r.memory) parts.push(fmtBytes(r.memory));
  const nodes = j.nodes ?? 1;
  return parts.join(' · ') + (nodes > 1 ? ` × ${nodes} nodes` : '');
}

/** placementText says where a job runs: "gpu-1: 0, 1" per node, or "—". */
export function placementText(j: Job): string {
  const ps = j.placement ?? [];
  if (ps.length === 0) return '—';
  return ps.map((p) => (ps.length > 1 || !p.gpus?.length ? `${p.node}${p.gpus?.length ? ': ' : ''}` : '') + (p.gpus ?? []).join(', ')).join(' · ');
}

export const jobName = (j: Job) => j.name || j.command.join(' ');

/** gpuJobs maps each GPU index of the machine named host to the running
 * jobs that hold it. */
export function gpuJobs(jobs: Job[], host: string): Map<number, Job[]> {
  const m = new Map<number, Job[]>();
  for (const j of jobs) {
    if (j.state !== 'RUNNING') continue;
    for (const p of j.placement ?? []) {
      if (p.node !== host) continue;
      for (const g of p.gpus ?? []) {
        if (!m.has(g)) m.set(g, []);
        m.get(g)!.push(j);
      }
    }
  }
  return m;
}
