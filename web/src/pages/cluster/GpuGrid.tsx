import type { GPU, Job, Machine } from '../../api/types';
import { fmtBytes } from '../../lib/format';
import { Link } from '../../router';
import { gpuJobs, jobName } from './jobText';

/** GpuGrid shows each GPU's live readings and the job that holds it. */
export function GpuGrid({ machine, jobs }: { machine: Machine; jobs: Job[] }) {
  const held = gpuJobs(jobs, machine.hostname);
  if (machine.gpus.length === 0) {
    return (
      <p className="muted">
        No GPUs: {machine.source}. Jobs run on the CPUs. (trainyard finds GPUs with <code>nvidia-smi</code>; see <code>trainyard up --nvidia-smi</code>.)
      </p>
    );
  }
  return (
    <ul className="gpu-grid" aria-label="GPUs">
      {machine.gpus.map((g) => (
        <GpuCard key={g.index} gpu={g} jobs={held.get(g.index) ?? []} />
      ))}
    </ul>
  );
}

function GpuCard({ gpu, jobs }: { gpu: GPU; jobs: Job[] }) {
  const mem = gpu.memory_total > 0 && gpu.memory_used >= 0 ? (gpu.memory_used / gpu.memory_total) * 100 : -1;
  return (
    <li className="card gpu" aria-label={`GPU ${gpu.index}`} data-gpu={gpu.index}>
      <div className="gpu-head">
        <strong>GPU {gpu.index}</strong>
        <span className="muted small truncate" title={gpu.uuid}>
          {gpu.name}
        </span>
      </div>
      <Meter label="Utilisation" percent={gpu.utilization} text={gpu.utilization >= 0 ? `${gpu.utilization}%` : 'unknown'} />
      <Meter label="Memory" percent={mem} text={gpu.memory_total > 0 ? `${fmtBytes(gpu.memory_used)} of ${fmtBytes(gpu.memory_total)}` : 'unknown'} />
      <div className="small muted">
        {gpu.temperature !== undefined && gpu.temperature >= 0 && <span>{gpu.temperature} °C · </span>}
        {gpu.power_draw !== undefined && gpu.power_draw >= 0 && <span>{gpu.power_draw.toFixed(0)} W</span>}
      </div>
      <div className="gpu-jobs">
        {jobs.length === 0 ? (
          <span className="muted">idle</span>
        ) : (
          jobs.map((j) => (
            <Link key={j.id} to={`/runs/${encodeURIComponent(j.id)}`} className="gpu-job">
              {jobName(j)} <span className="muted small">({j.project})</span>
            </Link>
          ))
        )}
      </div>
    </li>
  );
}

function Meter({ label, percent, text }: { label: string; percent: number; text: string }) {
  const p = Math.max(0, Math.min(100, percent));
  return (
    <div className="meter-row">
      <span className="small">{label}</span>
      <div className="meter" role="meter" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={percent >= 0 ? Math.round(p) : undefined} aria-valuetext={text}>
        <div className={p > 90 ? 'meter-fill high' : 'meter-fill'} style={{ width: `${percent >= 0 ? p : 0}%` }} />
      </div>
      <span className="small mono">{text}</span>
    </div>
  );
}
