import { describe, expect, test } from 'vitest';
import type { Run } from '../api/types';
import { run } from '../test-fixtures';
import { availableKeys, cellText, compareValues, defaultColumns, orderBy, parseColumn, sortRuns } from './columns';

const m = (last: number | string, min = last, max = last) => ({ count: 3, last, last_step: 2, last_time: 0, min, max }) as Run['metrics'][string];

describe('parseColumn', () => {
  test.each([
    ['a:state', { kind: 'attr', key: 'state', label: 'State' }],
    ['p:model.layers', { kind: 'param', key: 'model.layers', label: 'model.layers' }],
    ['t:team', { kind: 'tag', key: 'team', label: 'tag team' }],
    ['m:last:loss', { kind: 'metric', key: 'loss', agg: 'last', label: 'loss' }],
    ['m:min:val/loss:x', { kind: 'metric', key: 'val/loss:x', agg: 'min', label: 'val/loss:x (min)' }],
  ])('%s', (id, want) => expect(parseColumn(id)).toEqual({ id, ...want }));

  test.each(['', 'a:', 'a:nope', 'm:avg:loss', 'm:last:', 'x:y'])('%s is not a column', (id) => expect(parseColumn(id)).toBeNull());
});

describe('sortRuns', () => {
  const runs = [
    run({ id: 'a', config: { lr: '0.1' }, metrics: { loss: m(0.5) } }),
    run({ id: 'b', config: { lr: 0.01 }, metrics: { loss: m('NaN') } }),
    run({ id: 'c', metrics: { loss: m(0.2) } }),
    run({ id: 'd', config: { lr: 1e-3 }, metrics: { loss: m('-Infinity') } }),
  ];
  const ids = (rs: Run[]) => rs.map((r) => r.id).join('');

  test('metrics ascending: NaN after numbers, missing last', () => {
    expect(ids(sortRuns(runs, parseColumn('m:last:loss'), false))).toBe('dcab');
  });
  test('descending keeps runs without a value last', () => {
    expect(ids(sortRuns(runs, parseColumn('p:lr'), true))).toBe('abdc');
  });
  test('params that hold numbers as strings compare as numbers', () => {
    expect(ids(sortRuns(runs, parseColumn('p:lr'), false))).toBe('dbac');
  });
  test('no column keeps the order', () => expect(ids(sortRuns(runs, null, false))).toBe('abcd'));
  test('stable for equal values', () => {
    const same = ['x', 'y', 'z'].map((id) => run({ id, tags: { team: 't' } }));
    expect(ids(sortRuns(same, parseColumn('t:team'), true))).toBe('xyz');
  });
  test('compareValues: strings that are not both numbers compare as text', () => {
    expect(compareValues('10', '9')).toBeGreaterThan(0);
    expect(compareValues('b', 'a')).toBe(1);
    expect(compareValues(1, 'a')).toBe(-1);
  });
});

describe('orderBy', () => {
  test.each([
    ['m:last:loss', false, 'metrics.loss ASC'],
    ['m:last:val/acc', true, 'metrics.`val/acc` DESC'],
    ['p:model.layers', false, 'params.model.layers ASC'],
    ['t:team', true, 'tags.team DESC'],
    ['a:created', true, 'attributes.created DESC'],
  ])('%s desc=%s → %s', (id, desc, want) => expect(orderBy(parseColumn(id), desc)).toBe(want));
  test('min and max, and duration, are sorted here, not by the server', () => {
    expect(orderBy(parseColumn('m:min:loss'), false)).toBeUndefined();
    expect(orderBy(parseColumn('a:duration'), false)).toBeUndefined();
  });
});

test('cellText formats values', () => {
  const r = run({ id: 'a', config: { opt: { name: 'adam' }, flag: true }, metrics: { loss: m(0.123456, 0.01, 'Infinity') } });
  expect(cellText(r, parseColumn('m:last:loss')!)).toBe('0.1235');
  expect(cellText(r, parseColumn('m:max:loss')!)).toBe('+Inf');
  expect(cellText(r, parseColumn('p:flag')!)).toBe('true');
  expect(cellText(r, parseColumn('p:missing')!)).toBe('');
});

test('availableKeys and defaultColumns pick what differs and what most runs log', () => {
  const runs = [
    run({ id: 'a', config: { lr: 0.1, seed: 1 }, tags: { team: 'x' }, metrics: { loss: m(1), acc: m(1), 'system/cpu_percent': m(1) } }),
    run({ id: 'b', config: { lr: 0.2, seed: 1 }, metrics: { loss: m(1) } }),
  ];
  expect(availableKeys(runs)).toEqual({ params: ['lr', 'seed'], metrics: ['acc', 'loss', 'system/cpu_percent'], tags: ['team'] });
  expect(defaultColumns(runs)).toEqual(['a:state', 'a:created', 'a:duration', 'p:lr', 'm:last:acc', 'm:last:loss']);
});
