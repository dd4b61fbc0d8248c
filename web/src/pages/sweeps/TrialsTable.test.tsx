import { render, screen, within } from '@testing-library/react';
import { expect, test } from 'vitest';
import type { Sweep, Trial } from '../../api/types';
import { TrialsTable } from './TrialsTable';

const sweep = { id: 's1', name: 'quad', metric: 'val/loss', mode: 'min', best_trial: 2, best_value: 0.25, counts: {}, max_trials: 3 } as unknown as Sweep;
const t = (over: Partial<Trial>): Trial =>
  ({ sweep_id: 's1', segment: 1, step: 0, results: 0, created_at: '', updated_at: '', config: {}, ...over }) as Trial;

test('the trials table shows state, step of until, value, each parameter, runs, and marks the best', () => {
  render(
    <TrialsTable
      sweep={sweep}
      trials={[
        t({ number: 1, state: 'PAUSED', step: 3, until: 3, value: 0.5, config: { lr: 0.1, opt: { name: 'adam' } }, jobs: ['aaaaaaaaaaaa'], reason: 'asha: paused at rung 1 (step 3)' }),
        t({ number: 2, state: 'COMPLETED', step: 9, until: 9, value: 0.25, config: { lr: 0.01, opt: { name: 'sgd' } }, jobs: ['bbbbbbbbbbbb', 'cccccccccccc'], retries: 1 }),
        t({ number: 3, state: 'RUNNING', step: 1, until: 9, directive: 'stop', config: { lr: 0.02 } }),
      ]}
    />,
  );
  const table = screen.getByRole('table', { name: 'Trials' });
  const head = within(table).getAllByRole('columnheader').map((h) => h.textContent);
  expect(head).toEqual(['Trial', 'State', 'Step', 'val/loss', 'lr', 'opt.name', 'Runs', 'Reason']);
  const rows = within(table).getAllByRole('row').slice(1);
  expect(rows[0].textContent).toContain('paused');
  expect(within(rows[0]).getAllByRole('cell')[2].textContent).toBe('3/3');
  expect(rows[0].textContent).toContain('asha: paused at rung 1');
  expect(rows[1].className).toBe('best');
  expect(rows[1].textContent).toContain('★');
  expect(within(rows[1]).getAllByRole('cell')[2].textContent).toBe('9'); // ended: no "of until"
  expect(within(rows[1]).getAllByRole('link').map((a) => a.getAttribute('href'))).toEqual(['/runs/bbbbbbbbbbbb', '/runs/cccccccccccc']);
  expect(rows[1].textContent).toContain('1 retried');
  expect(rows[2].textContent).toContain('(stop)');
  expect(within(rows[2]).getAllByRole('cell')[3].textContent).toBe('—'); // no value yet
  expect(within(rows[2]).getAllByRole('cell')[5].textContent).toBe('—'); // no opt.name
});
