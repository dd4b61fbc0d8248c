// Builders of API objects for unit tests.
import type { Job, Run } from './api/types';

export function run(over: Partial<Run> & { id: string }): Run {
  return {
    project: 'p',
    name: over.id,
    state: 'SUCCEEDED',
    config: {},
    tags: {},
    summary: {},
    metrics: {},
    created_at: '2024-01-01T00:00:00Z',
    ...over,
  };
}

export function job(over: Partial<Job> & { id: string }): Job {
  return {
    name: over.id,
    project: 'default',
    command: ['python', 'train.py'],
    resources: { gpus: 0, cpus: 1, memory: 0 },
    state: 'QUEUED',
    restarts: 0,
    submitted_at: '2024-01-01T00:00:00Z',
    ...over,
  } as Job;
}
