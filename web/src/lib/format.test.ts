import { expect, test } from 'vitest';
import { fmtBytes, fmtDuration, fmtNum, fmtValue, runSeconds } from './format';

test.each([
  [0, '0'],
  [1, '1'],
  [0.123456, '0.1235'],
  [1234.5678, '1235'],
  [12345678, '1.235e+7'],
  [0.00001234, '1.234e-5'],
  [NaN, 'NaN'],
  [Infinity, '+Inf'],
  [-Infinity, '−Inf'],
  [-2.5, '-2.5'],
])('fmtNum(%s) = %s', (x, want) => expect(fmtNum(x)).toBe(want));

test.each([
  [512, '512 B'],
  [1536, '1.5 KiB'],
  [150754820096, '140 GiB'],
  [-1, '—'],
])('fmtBytes(%s) = %s', (x, want) => expect(fmtBytes(x)).toBe(want));

test.each([
  [4.25, '4.3s'],
  [42, '42s'],
  [192, '3m 12s'],
  [7500, '2h 5m'],
  [200000, '2d 7h'],
  [-30, '−30s'],
])('fmtDuration(%s) = %s', (x, want) => expect(fmtDuration(x)).toBe(want));

test('fmtValue', () => {
  expect(fmtValue({ a: 1 })).toBe('{"a":1}');
  expect(fmtValue(null)).toBe('null');
  expect(fmtValue(false)).toBe('false');
});

test('runSeconds counts to now while running', () => {
  expect(runSeconds({ created_at: '2024-01-01T00:00:00Z', started_at: '2024-01-01T00:00:10Z', ended_at: '2024-01-01T00:01:10Z' })).toBe(60);
  expect(runSeconds({ created_at: '2024-01-01T00:00:00Z' }, Date.parse('2024-01-01T00:00:05Z'))).toBe(5);
});
