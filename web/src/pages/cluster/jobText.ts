import type { Job } from '../../api/types';
import { fmtBytes } from '../../lib/format';

/** resourcesText says what a job asks for: "2 GPUs · 8 CPUs · 64 GiB". */
export function resourcesText(j: Job): string {
  const r = j.resources;
  const parts = [];
  if (r.gpus) parts.push(`${r.gpus} GPU${r.gpus > 1 ? 's' : ''}`);
  parts.push(`${r.cpus} CPU${r.cpus === 1 ? '' : 's'}`);
  if (r.memory) parts.push(fmtBytes(r.memory));
  return parts.join(' · ');
}

export const jobName = (j: Job) => j.name || j.command.join(' ');

/** gpuJobs maps each GPU index to the running jobs that hold it. */
export function gpuJobs(jobs: Job[]): Map<number, Job[]> {
  const m = new Map<number, Job[]>();
  for (const j of jobs) {
    if (j.state !== 'RUNNING') continue;
    for (const g of j.gpu_ids ?? []) {
      if (!m.has(g)) m.set(g, []);
      m.get(g)!.push(j);
    }
  }
  return m;
}
