import { render, screen, within } from '@testing-library/react';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { setMe, type Me } from '../../auth/session';
import { job } from '../../test-fixtures';
import { GpuGrid } from './GpuGrid';
import { QueueTable, RunningJobs } from './JobTables';

const open: Me = { mode: 'open', admin: true, roles: {}, via: 'open' };
beforeEach(() => setMe(open));
afterEach(() => setMe(null));

test('the queue shows each job position, what it asks for, and why it waits', () => {
  render(
    <QueueTable
      onChange={vi.fn()}
      jobs={[
        job({ id: 'j1', name: 'big', queue_position: 1, reason: 'waiting for 2 GPUs: 0 of 2 free', resources: { gpus: 2, cpus: 4, memory: 64 * 2 ** 30 } }),
        job({ id: 'j2', name: 'small', queue_position: 2, reason: 'behind big' }),
      ]}
    />,
  );
  const rows = within(screen.getByRole('table', { name: 'Queued jobs' })).getAllByRole('row');
  expect(rows[1].textContent).toContain('big');
  expect(rows[1].textContent).toContain('2 GPUs · 4 CPUs · 64 GiB');
  expect(within(rows[1]).getByText('waiting for 2 GPUs: 0 of 2 free')).toBeTruthy();
  expect(within(rows[2]).getAllByRole('cell')[0].textContent).toBe('2');
  expect(within(rows[2]).getByRole('button', { name: 'Cancel job small' })).toBeTruthy();
});

test('cancel is offered only to whom the server lets cancel: the owner as a member, the project admin, not a viewer', () => {
  const jobs = [
    job({ id: 'j1', name: 'veras', project: 'vision', owner: 'vera', queue_position: 1 }),
    job({ id: 'j2', name: 'olafs', project: 'vision', owner: 'olaf', queue_position: 2 }),
    job({ id: 'j3', name: 'nlps', project: 'nlp', owner: 'vera', queue_position: 3 }),
  ];
  const as = (me: Me | null) => {
    setMe(me);
    const { unmount } = render(<QueueTable jobs={jobs} onChange={vi.fn()} />);
    const n = screen.queryAllByRole('button', { name: /^Cancel job/ }).length;
    unmount();
    return n;
  };
  const user = (roles: Me['roles'], extra: Partial<Me> = {}): Me => ({ mode: 'users', user: 'vera', admin: false, roles, via: 'session', ...extra });
  expect(as(user({ vision: 'member' }))).toBe(1); // her own job in vision
  expect(as(user({ vision: 'admin' }))).toBe(2); // anyone's in vision, not in nlp
  expect(as(user({ '*': 'member', vision: 'viewer' }))).toBe(2); // the best of her roles: her own in both
  expect(as(user({ vision: 'viewer' }))).toBe(0);
  expect(as(user({ vision: 'admin' }, { max_role: 'viewer', via: 'api' }))).toBe(0); // a read-only token
  expect(as(user({ '*': 'admin' }, { project: 'nlp', via: 'api' }))).toBe(1); // a token for nlp only
  expect(as(user({}, { admin: true }))).toBe(3);
  expect(as(user({}, { admin: true, max_role: 'viewer', via: 'api' }))).toBe(0); // a server admin's read-only token
  expect(as({ mode: 'users', admin: false, roles: { vision: 'admin' }, via: 'job', run_id: 'r1' })).toBe(0); // a job's token
  expect(as(null)).toBe(0); // before the server said who we are
  render(<QueueTable jobs={jobs} onChange={vi.fn()} />);
  expect(within(screen.getAllByRole('row')[1]).getByText(/\(vision, by vera\)/)).toBeTruthy(); // the owner is shown
});

test('an empty queue and nothing running say so', () => {
  render(<><QueueTable jobs={[]} onChange={vi.fn()} /><RunningJobs jobs={[]} onChange={vi.fn()} /></>);
  expect(screen.getByText(/The queue is empty/)).toBeTruthy();
  expect(screen.getByText(/Nothing is running/)).toBeTruthy();
});

test('GPUs show the jobs that hold them, or idle; no GPUs says why', () => {
  const gpu = (index: number) => ({ index, uuid: `GPU-${index}`, name: 'NVIDIA H200', memory_total: 100, memory_used: 50, utilization: 97 });
  const machine = { hostname: 'h', cpus: 8, memory: 1, gpus: [gpu(0), gpu(1)], source: 'nvidia-smi' };
  const { unmount } = render(<GpuGrid machine={machine} jobs={[job({ id: 'a', name: 'trainer', state: 'RUNNING', placement: [{ node: 'h', gpus: [1] }] })]} />);
  expect(within(screen.getByRole('listitem', { name: 'GPU 0' })).getByText('idle')).toBeTruthy();
  expect(within(screen.getByRole('listitem', { name: 'GPU 1' })).getByRole('link', { name: /trainer/ })).toBeTruthy();
  expect(screen.getAllByRole('meter', { name: 'Utilisation' })[0].getAttribute('aria-valuenow')).toBe('97');
  unmount();
  render(<GpuGrid machine={{ ...machine, gpus: [], source: 'nvidia-smi not found: CPU-only mode' }} jobs={[]} />);
  expect(screen.getByText(/CPU-only mode/)).toBeTruthy();
});
