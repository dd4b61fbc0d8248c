import { expect, test } from 'vitest';
import { buildPlot, nearestIndex, visibleRange, type PlotLine } from './plotData';

const line = (id: string, steps: number[], values: number[], extra = {}): PlotLine => ({
  id,
  label: id,
  color: '#000000',
  t0: 1000,
  data: { key: 'loss', total: steps.length, downsampled: false, steps, values, times: steps.map((s) => 1000 + s * 1000), ...extra },
});

test('buildPlot gives each line its own x values, as uPlot facets', () => {
  const p = buildPlot([line('a', [0, 1], [1, 2]), line('b', [5], [3]), { id: 'c', label: 'c', color: '#000', t0: 0 }], 'step', false, 0);
  expect(p.facets).toEqual([null, [[0, 1], [1, 2]], [[5], [3]], [[], []]]);
  expect(buildPlot([line('a', [0, 2], [1, 2])], 'relative', false, 0).xs[0]).toEqual([0, 2]);
});

test('buildPlot smooths, keeps the raw line under it, and hides what a log scale cannot show', () => {
  const p = buildPlot([line('a', [0, 1, 2], [0, 4, 4])], 'step', true, 0.5);
  expect(p.ys[0][0]).toBeNull(); // 0 on a log scale
  expect(p.underlays[0].raw).toEqual([null, 4, 4]);
});

test('buildPlot carries the min/max band of downsampled data', () => {
  const p = buildPlot([line('a', [0, 1], [1, 2], { downsampled: true, min: [0.5, 1], max: [9, 2] })], 'step', false, 0);
  expect(p.underlays[0].min).toEqual([0.5, 1]);
  expect(p.underlays[0].max).toEqual([9, 2]);
});

test('visibleRange covers the bands (spikes stay on the chart) within the x window, without hidden lines', () => {
  const p = buildPlot(
    [line('a', [0, 1, 2], [1, 2, 3], { downsampled: true, min: [0.5, 1, 3], max: [9, 2, 3] }), line('b', [0, 1], [-5, 100])],
    'step',
    false,
    0,
  );
  expect(visibleRange(p, new Set([1]))).toEqual([0.5, 9]);
  expect(visibleRange(p, new Set([1]), 1, 2)).toEqual([1, 3]);
  expect(visibleRange(p, new Set())).toEqual([-5, 100]);
  expect(visibleRange(p, new Set([0, 1]))).toBeNull();
});

test('nearestIndex', () => {
  expect(nearestIndex([], 3)).toBe(-1);
  expect(nearestIndex([0, 10, 20], 14)).toBe(1);
  expect(nearestIndex([0, 10, 20], 16)).toBe(2);
  expect(nearestIndex([0, 10, 20], -5)).toBe(0);
  expect(nearestIndex([0, 10, 20], 99)).toBe(2);
});
