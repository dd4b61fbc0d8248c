import type { Job, Machine } from '../../api/types';
import { isTerminal } from '../../api/types';
import { usePoll } from '../../api/usePoll';
import { Failed, Loading } from '../../components/States';
import { fmtBytes } from '../../lib/format';
import { useNow } from '../../useNow';
import { GpuGrid } from './GpuGrid';
import { QueueTable, RecentJobs, RunningJobs } from './JobTables';

/** ClusterPage is this machine: its GPUs and who holds them, what runs, what waits and why, and what ended. */
export function ClusterPage() {
  const active = usePoll<{ jobs: Job[] }>('/api/v1/jobs?active=true', 2000);
  const machine = usePoll<Machine>('/api/v1/machine', 5000);
  const recent = usePoll<{ jobs: Job[] }>('/api/v1/jobs?limit=40', 5000);
  const now = useNow(1000);
  if (active.loading || machine.loading) return <Loading what="the cluster" />;
  if (!active.data || !machine.data) return <Failed error={(active.error ?? machine.error)!} what="the cluster" />;
  const m = machine.data;
  const jobs = active.data.jobs;
  const running = jobs.filter((j) => j.state === 'RUNNING');
  const queued = jobs.filter((j) => j.state === 'QUEUED');
  const finished = (recent.data?.jobs ?? []).filter((j) => isTerminal(j.state)).slice(0, 20);
  const changed = () => {
    active.reload();
    recent.reload();
  };
  return (
    <div className="page cluster-page">
      <div className="page-head">
        <h1>Cluster</h1>
        <span className="muted">
          {m.hostname}: {m.gpus.length} GPU{m.gpus.length === 1 ? '' : 's'} · {m.cpus} CPUs · {fmtBytes(m.memory)} memory
        </span>
      </div>
      {(active.error || machine.error) && <p className="error small" role="alert">Lost touch with the server; retrying.</p>}
      {m.warnings?.map((w) => (
        <p key={w} className="warning small">{w}</p>
      ))}
      <section aria-labelledby="gpus-h">
        <h2 id="gpus-h">GPUs</h2>
        <GpuGrid machine={m} jobs={running} />
      </section>
      <section aria-labelledby="running-h">
        <h2 id="running-h">Running ({running.length})</h2>
        <RunningJobs jobs={running} onChange={changed} now={now} />
      </section>
      <section aria-labelledby="queue-h">
        <h2 id="queue-h">Queue ({queued.length})</h2>
        <QueueTable jobs={queued} onChange={changed} now={now} />
      </section>
      <section aria-labelledby="recent-h">
        <h2 id="recent-h">Recently finished</h2>
        <RecentJobs jobs={finished} />
      </section>
    </div>
  );
}
