import { fireEvent, render, screen, within } from '@testing-library/react';
import { expect, test, vi } from 'vitest';
import { parseColumn, type Column } from '../../lib/columns';
import { run } from '../../test-fixtures';
import { RunsTable } from './RunsTable';

const runs = Array.from({ length: 10_000 }, (_, i) =>
  run({ id: `r${i}`, name: `run-${i}`, state: i === 0 ? 'RUNNING' : 'SUCCEEDED', config: { lr: i / 1000 }, metrics: { loss: { count: 1, last: 1 / (i + 1), last_step: 0, last_time: 0, min: 0, max: 1 } } }),
);
const columns = ['a:state', 'p:lr', 'm:last:loss'].map(parseColumn) as Column[];

function table(over: Partial<Parameters<typeof RunsTable>[0]> = {}) {
  const props = { runs, columns, sort: { id: 'a:created', desc: true }, onSort: vi.fn(), selected: new Set<string>(), onSelect: vi.fn<(ids: string[], on: boolean) => void>() };
  Object.assign(props, over);
  render(<RunsTable {...props} />);
  return props;
}

test('renders only the rows in view of 10,000', () => {
  table();
  const rows = document.querySelectorAll('.trow');
  expect(rows.length).toBeGreaterThan(10);
  expect(rows.length).toBeLessThan(100);
  expect(screen.getByRole('table', { name: 'Runs' }).getAttribute('aria-rowcount')).toBe('10001');
  expect(screen.getByRole('link', { name: 'run-0' }).getAttribute('href')).toBe('/runs/r0');
  expect(within(rows[0] as HTMLElement).getByText('running')).toBeTruthy();
  expect(within(rows[1] as HTMLElement).getByText('0.5')).toBeTruthy(); // loss of run-1
});

test('header buttons sort; the sorted column says so', () => {
  const p = table({ sort: { id: 'p:lr', desc: false } });
  fireEvent.click(screen.getByRole('button', { name: 'loss' }));
  expect(p.onSort).toHaveBeenCalledWith('m:last:loss');
  expect(screen.getByRole('columnheader', { name: /lr/ }).getAttribute('aria-sort')).toBe('ascending');
});

test('checkboxes and the keyboard select runs', () => {
  const p = table({ selected: new Set(['r1']) });
  fireEvent.click(screen.getByRole('checkbox', { name: 'Select run-2' }));
  expect(p.onSelect).toHaveBeenCalledWith(['r2'], true);
  expect((screen.getByRole('checkbox', { name: 'Select run-1' }) as HTMLInputElement).checked).toBe(true);
  const scroller = screen.getByLabelText(/Runs table/);
  fireEvent.keyDown(scroller, { key: 'ArrowDown' });
  fireEvent.keyDown(scroller, { key: 'ArrowDown' });
  fireEvent.keyDown(scroller, { key: ' ' });
  expect(p.onSelect).toHaveBeenLastCalledWith(['r1'], false);
  fireEvent.click(screen.getByRole('checkbox', { name: /Select the first 100 runs/ }));
  expect(p.onSelect.mock.lastCall?.[0]).toHaveLength(100);
});
