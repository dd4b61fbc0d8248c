import { expect, test } from 'vitest';
import { buildPlot, markedPoints, nearestIndex, undrawableNote, visibleRange, xRange, type PlotLine } from './plotData';

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

test('a line of one point, or of points between gaps, marks them: a line through them draws nothing', () => {
  const one = buildPlot([line('a', [7], [0.5])], 'step', false, 0);
  expect(one.lone).toEqual([[0]]);
  const gaps = buildPlot([line('a', [0, 1, 2, 3, 4, 5], [1, NaN, 2, 3, NaN, 4])], 'step', false, 0);
  expect(gaps.lone).toEqual([[0, 5]]); // 2 and 3 make a segment
  expect(buildPlot([line('a', [0, 1], [1, 2])], 'step', false, 0).lone).toEqual([[]]);
  // on a log scale, values ≤ 0 are gaps too
  expect(buildPlot([line('a', [0, 1, 2], [1, 0, 5])], 'step', true, 0).lone).toEqual([[0, 2]]);
});

test('NaN and ±Inf are kept for the legend and marked at the edges, counted for the note', () => {
  const p = buildPlot([line('a', [0, 1, 2, 3], [NaN, Infinity, -Infinity, 1]), line('b', [0, 1], [NaN, NaN])], 'step', false, 0);
  expect(p.values[0]).toEqual([NaN, Infinity, -Infinity, 1]);
  expect(p.ys[0]).toEqual([null, null, null, 1]);
  expect(p.edges[0]).toEqual({ xs: [0, 1, 2], kinds: ['nan', '+inf', '-inf'] });
  expect(p.edges[1]).toEqual({ xs: [0, 1], kinds: ['nan', 'nan'] });
  expect(p.undrawable).toEqual({ nan: 3, posInf: 1, negInf: 1, notPositive: 0, buckets: false });
  expect(undrawableNote(p.undrawable)).toBe('Not drawn as lines: 3 NaN (× on the bottom edge), 1 +Inf (▲ on the top edge), 1 −Inf (▼ on the bottom edge).');
  expect(visibleRange(p, new Set([0]))).toBeNull(); // b alone has nothing to draw
});

test('a downsampled bucket with +Inf or −Inf inside is marked, as a spike would be; its count is of buckets', () => {
  const p = buildPlot([line('a', [0, 10], [1, 2], { downsampled: true, min: [-Infinity, 1], max: [3, Infinity] })], 'step', false, 0);
  expect(p.edges[0]).toEqual({ xs: [0, 10], kinds: ['-inf', '+inf'] });
  expect(undrawableNote(p.undrawable)).toBe('Not drawn as lines: +Inf (▲ on the top edge), −Inf (▼ on the bottom edge).');
  expect(undrawableNote(buildPlot([line('a', [0], [1])], 'step', false, 0).undrawable)).toBe('');
  expect(undrawableNote(buildPlot([line('a', [0, 1], [0, 1])], 'step', true, 0).undrawable)).toBe('Not drawn as lines: 1 values ≤ 0 hidden by the log scale.');
});

test('xRange gives a lone x room on both sides, and an empty chart an axis', () => {
  expect(xRange(5, 5, 'step')).toEqual([4, 6]);
  expect(xRange(1.7e9, 1.7e9, 'time')).toEqual([1.7e9 - 60, 1.7e9 + 60]);
  expect(xRange(0, 10, 'relative')).toEqual([0, 10]);
  expect(xRange(null, null, 'step')).toEqual([0, 1]);
});

test('markedPoints: every point of a sparse line, else its lone ones', () => {
  const p = buildPlot([line('a', [0, 1, 2, 3], [1, NaN, 2, 3]), line('b', [], [])], 'step', false, 0);
  expect(markedPoints(p, 0, 600)).toEqual([0, 2, 3]);
  expect(markedPoints(p, 0, 40)).toEqual([0]);
  expect(markedPoints(p, 1, 600)).toBeNull();
});

test('data without times (fetched for a chart by step) draws nothing on a time axis until fetched again', () => {
  const noTimes = line('a', [0, 1], [1, 2], { times: [] });
  expect(buildPlot([noTimes], 'step', false, 0).xs[0]).toEqual([0, 1]);
  expect(buildPlot([noTimes], 'relative', false, 0).facets[1]).toEqual([[], []]);
});
