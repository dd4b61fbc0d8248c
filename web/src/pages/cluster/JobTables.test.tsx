import { render, screen, within } from '@testing-library/react';
import { expect, test, vi } from 'vitest';
import { job } from '../../test-fixtures';
import { GpuGrid } from './GpuGrid';
import { QueueTable, RunningJobs } from './JobTables';

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

test('an empty queue and nothing running say so', () => {
  render(<><QueueTable jobs={[]} onChange={vi.fn()} /><RunningJobs jobs={[]} onChange={vi.fn()} /></>);
  expect(screen.getByText(/The queue is empty/)).toBeTruthy();
  expect(screen.getByText(/Nothing is running/)).toBeTruthy();
});

test('GPUs show the jobs that hold them, or idle; no GPUs says why', () => {
  const gpu = (index: number) => ({ index, uuid: `GPU-${index}`, name: 'NVIDIA H200', memory_total: 100, memory_used: 50, utilization: 97 });
  const machine = { hostname: 'h', cpus: 8, memory: 1, gpus: [gpu(0), gpu(1)], source: 'nvidia-smi' };
  const { unmount } = render(<GpuGrid machine={machine} jobs={[job({ id: 'a', name: 'trainer', state: 'RUNNING', gpu_ids: [1] })]} />);
  expect(within(screen.getByRole('listitem', { name: 'GPU 0' })).getByText('idle')).toBeTruthy();
  expect(within(screen.getByRole('listitem', { name: 'GPU 1' })).getByRole('link', { name: /trainer/ })).toBeTruthy();
  expect(screen.getAllByRole('meter', { name: 'Utilisation' })[0].getAttribute('aria-valuenow')).toBe('97');
  unmount();
  render(<GpuGrid machine={{ ...machine, gpus: [], source: 'nvidia-smi not found: CPU-only mode' }} jobs={[]} />);
  expect(screen.getByText(/CPU-only mode/)).toBeTruthy();
});
