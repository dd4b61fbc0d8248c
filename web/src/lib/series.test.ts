import { describe, expect, test } from 'vitest';
import { appendTail, ema, fromApi, planFetch, plotValues, pointsLabel, xValues, type SeriesData } from './series';

const data = (steps: number[], over: Partial<SeriesData> = {}): SeriesData => ({
  key: 'loss',
  total: steps.length,
  downsampled: false,
  steps,
  values: steps.map((s) => s / 10),
  times: steps.map((s) => 1000 + s * 100),
  ...over,
});

test('fromApi reads the special floats and keeps min/max only when downsampled', () => {
  const d = fromApi({ key: 'k', total: 9, downsampled: true, steps: [1, 2], values: ['NaN', 2], timestamps: [5, 6], min: ['-Infinity', 1], max: [3, 'Infinity'] });
  expect(d.values[0]).toBeNaN();
  expect(d.min).toEqual([-Infinity, 1]);
  expect(d.max).toEqual([3, Infinity]);
  expect(fromApi({ key: 'k', total: 1, downsampled: false, steps: [1], values: [1], timestamps: [1], min: [0] }).min).toBeUndefined();
});

describe('planFetch', () => {
  test.each([
    ['nothing yet', undefined, 10, 9, 100, { kind: 'full' }],
    ['unchanged', data([0, 1, 2]), 3, 2, 100, { kind: 'none' }],
    ['new points that fit: only the tail', data([0, 1, 2]), 5, 4, 100, { kind: 'tail', startStep: 3 }],
    ['more than the chart holds: downsample again', data([0, 1, 2]), 500, 499, 100, { kind: 'full' }],
    ['already downsampled: again', data([0, 1, 2], { downsampled: true, total: 300 }), 400, 499, 100, { kind: 'full' }],
    ['a step logged again (same count rule)', data([0, 1, 2]), 4, 2, 100, { kind: 'full' }],
  ] as const)('%s', (_, have, count, last, max, want) => expect(planFetch(have as SeriesData | undefined, count, last, max)).toEqual(want));
});

test('appendTail adds only points after the last step', () => {
  const got = appendTail(data([0, 1, 2]), data([2, 3, 4]));
  expect(got.steps).toEqual([0, 1, 2, 3, 4]);
  expect(got.total).toBe(5);
  expect(got.values).toEqual([0, 0.1, 0.2, 0.3, 0.4]);
  expect(appendTail(data([0, 1], { times: [] }), data([2])).times).toEqual([]); // fetched for a chart by step: stays without times
  const same = data([0, 1]);
  expect(appendTail(same, data([1]))).toBe(same);
});

test('xValues: steps, wall time in seconds, seconds since the start', () => {
  const d = data([0, 10]);
  expect(xValues(d, 'step', 0)).toEqual([0, 10]);
  expect(xValues(d, 'time', 0)).toEqual([1, 2]);
  expect(xValues(d, 'relative', 1000)).toEqual([0, 1]);
});

describe('ema', () => {
  test('off at weight 0', () => {
    const v = [1, 2, 3];
    expect(ema(v, 0)).toBe(v);
  });
  test('debiased: a constant stays constant', () => {
    for (const x of ema([5, 5, 5, 5], 0.9)) expect(x).toBeCloseTo(5, 12);
  });
  test('smooths a step and skips values that are not finite', () => {
    const got = ema([0, NaN, 10, 10], 0.5);
    expect(got[0]).toBe(0);
    expect(got[1]).toBeNaN();
    expect(got[2]).toBeCloseTo(10 / 1.5 * 0.5 * 2, 12); // (0.5*0 + 0.5*10) / (1 - 0.25)
    expect(got[3]).toBeGreaterThan(got[2]);
  });
});

test('plotValues turns what cannot be drawn into gaps', () => {
  expect(plotValues([1, NaN, Infinity, 0, -1], false)).toEqual([1, null, null, 0, -1]);
  expect(plotValues([1, NaN, Infinity, 0, -1], true)).toEqual([1, null, null, null, null]);
});

test('pointsLabel says how many points are shown of how many', () => {
  expect(pointsLabel([data([1, 2])])).toBe('2 points');
  expect(pointsLabel([data([7])])).toBe('1 point');
  expect(pointsLabel([data([1, 2], { total: 100000, downsampled: true }), undefined])).toBe('100,000 points, 2 shown (min/max kept)');
});
