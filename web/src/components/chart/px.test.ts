import { expect, test } from 'vitest';
import { scalePx } from './px';

const u = (distr: number, min: number, max: number) => ({
  bbox: { left: 10, top: 20, width: 200, height: 100 },
  scales: { x: { min: 0, max: 100, distr: 1 }, y: { min, max, distr } },
});

test('scalePx places values as uPlot does: x from the left, y from the bottom, on linear and log scales', () => {
  const lin = u(1, -1, 1);
  expect([0, 50, 100].map(scalePx(lin, 'x'))).toEqual([10, 110, 210]);
  expect([-1, 0, 1].map(scalePx(lin, 'y'))).toEqual([120, 70, 20]);
  const log = u(3, 0.01, 100);
  expect([0.01, 1, 100].map(scalePx(log, 'y'))).toEqual([120, 70, 20]);
});
