import { describe, expect, it } from 'vitest';
import type { Trial } from '../../api/types';
import { bestSoFar, flatConfig, isLogScale, paramNames, parallelRows, progress, scatterPoints } from './sweepData';

const trial = (n: number, state: Trial['state'], value: Trial['value'] | undefined, config: Record<string, unknown>, ended = ''): Trial =>
  ({ sweep_id: 's', number: n, state, value, config, segment: 1, step: 1, results: 1, created_at: '', updated_at: '', ended_at: ended || undefined }) as Trial;

describe('sweep data', () => {
  const trials = [
    trial(1, 'COMPLETED', 0.5, { lr: 0.1, opt: { name: 'adam' } }, '2026-01-01T00:00:03Z'),
    trial(2, 'STOPPED', 0.2, { lr: 0.001, opt: { name: 'sgd', momentum: 0.9 } }, '2026-01-01T00:00:01Z'),
    trial(3, 'COMPLETED', 0.3, { lr: 0.01, opt: { name: 'sgd', momentum: 0.5 } }, '2026-01-01T00:00:05Z'),
    trial(4, 'RUNNING', 'NaN', { lr: 0.05, opt: { name: 'adam' } }),
  ];

  it('flattens nested configs into dotted keys', () => {
    expect(flatConfig({ a: 1, m: { d: 2, e: { f: 'x' } }, empty: {} })).toEqual({ a: 1, 'm.d': 2, 'm.e.f': 'x', empty: {} });
    expect(paramNames(trials)).toEqual(['lr', 'opt.momentum', 'opt.name']);
  });

  it('draws the best final value of completed trials in the order trials ended', () => {
    // Trial 2 ended first but was stopped early: it never counts as best.
    expect(bestSoFar(trials, 'min')).toEqual({ x: [1, 2, 3], y: [NaN, 0.5, 0.3], trial: [0, 1, 3] });
    expect(bestSoFar(trials, 'max').y).toEqual([NaN, 0.5, 0.5]);
  });

  it('gives parallel coordinates an axis per parameter and one for the metric', () => {
    const { dims, rows, numbers } = parallelRows(trials, 'loss');
    expect(dims).toEqual([{ name: 'lr' }, { name: 'opt.momentum' }, { name: 'opt.name', categories: ['adam', 'sgd'] }, { name: 'loss' }]);
    expect(numbers).toEqual([1, 2, 3]); // trial 4 has no value (NaN)
    expect(rows[0]).toEqual([0.1, NaN, 'adam', 0.5]);
    expect(rows[1]).toEqual([0.001, 0.9, 'sgd', 0.2]);
  });

  it('scatters a parameter against the metric', () => {
    expect(scatterPoints(trials, 'lr')).toEqual({ points: [[0.1, 0.5, 1], [0.001, 0.2, 2], [0.01, 0.3, 3]], categorical: false });
    expect(scatterPoints(trials, 'opt.name').categorical).toBe(true);
    expect(isLogScale([0.1, 0.001, 0.01])).toBe(false);
    expect(isLogScale([0.1, 0.0001, 0.01])).toBe(true);
    expect(isLogScale([1, -1])).toBe(false);
  });

  it('counts progress against max_trials', () => {
    const s = { counts: { COMPLETED: 3, RUNNING: 2, STOPPED: 1 }, max_trials: 10 } as never;
    expect(progress(s)).toEqual({ ended: 4, total: 10 });
    expect(progress({ counts: { COMPLETED: 3, RUNNING: 2 }, max_trials: 0 } as never)).toEqual({ ended: 3, total: 5 });
  });
});
