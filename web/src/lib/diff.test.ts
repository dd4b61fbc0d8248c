import { expect, test } from 'vitest';
import { paramsDiff } from './diff';
import { run } from '../test-fixtures';

test('paramsDiff keeps only the keys where runs differ, or all', () => {
  const runs = [
    run({ id: 'a', config: { lr: 0.1, batch: 64, opt: 'adam' } }),
    run({ id: 'b', config: { lr: 0.01, batch: 64 } }),
  ];
  expect(paramsDiff(runs, true)).toEqual([
    { key: 'lr', values: ['0.1', '0.01'], differs: true },
    { key: 'opt', values: ['adam', '—'], differs: true },
  ]);
  expect(paramsDiff(runs, false).map((r) => r.key)).toEqual(['batch', 'lr', 'opt']);
});
