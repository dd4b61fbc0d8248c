import { fireEvent, render, screen } from '@testing-library/react';
import { beforeEach, expect, test } from 'vitest';
import { run } from '../../test-fixtures';
import { ParamsDiff } from './ParamsDiff';

beforeEach(() => history.replaceState(null, '', '/compare?runs=a,b'));

test('shows only differences until asked for all, and keeps the choice in the URL', () => {
  const runs = [run({ id: 'a', name: 'first', config: { lr: 0.1, batch: 64 } }), run({ id: 'b', name: 'second', config: { lr: 0.2, batch: 64 } })];
  render(<ParamsDiff runs={runs} colors={['#f00', '#00f']} />);
  expect(screen.getAllByRole('rowheader').map((h) => h.textContent)).toEqual(['lr']);
  fireEvent.click(screen.getByLabelText('Only differences'));
  expect(location.search).toContain('params=all');
  expect(screen.getAllByRole('rowheader').map((h) => h.textContent)).toEqual(['batch', 'lr']);
  expect(screen.getByRole('columnheader', { name: /second/ })).toBeTruthy();
});

test('says when the runs agree', () => {
  render(<ParamsDiff runs={[run({ id: 'a', config: { lr: 1 } }), run({ id: 'b', config: { lr: 1 } })]} colors={['#f00', '#00f']} />);
  expect(screen.getByText('These runs have the same params.')).toBeTruthy();
});
