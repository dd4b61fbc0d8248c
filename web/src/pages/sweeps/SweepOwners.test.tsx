import { render, screen, within } from '@testing-library/react';
import { afterEach, expect, test, vi } from 'vitest';
import type { Sweep } from '../../api/types';
import { setMe, type Me } from '../../auth/session';
import { SweepControls } from './SweepControls';
import { SweepsTable } from './SweepsPage';

afterEach(() => setMe(null));

const sweep = (over: Partial<Sweep>): Sweep =>
  ({
    id: 's1', name: 'quad', project: 'vision', state: 'RUNNING', metric: 'loss', mode: 'min', managed: true, spec: {}, version: 0,
    created_at: '2026-12-04T10:00:00Z', updated_at: '2026-12-04T10:00:00Z', searcher: 'tpe', max_trials: 8, parallel: 2, counts: {}, ...over,
  }) as Sweep;

test('pause and stop are offered only to whom the server lets change the sweep: its owner as a member, the project admin', () => {
  const buttons = (me: Me | null, s: Sweep) => {
    setMe(me);
    const { unmount } = render(<SweepControls sweep={s} onDone={vi.fn()} />);
    const names = screen.queryAllByRole('button').map((b) => b.textContent);
    unmount();
    return names;
  };
  const user = (roles: Me['roles'], extra: Partial<Me> = {}): Me => ({ mode: 'users', user: 'vera', admin: false, roles, via: 'session', ...extra });
  const veras = sweep({ owner: 'vera' });
  const olafs = sweep({ id: 's2', owner: 'olaf' });
  expect(buttons(user({ vision: 'member' }), veras)).toEqual(['Pause', 'Stop']); // her own
  expect(buttons(user({ vision: 'member' }), olafs)).toEqual([]); // another member's
  expect(buttons(user({ vision: 'member' }), sweep({ owner: undefined }))).toEqual([]); // nobody's (made before users)
  expect(buttons(user({ vision: 'admin' }), olafs)).toEqual(['Pause', 'Stop']); // the project admin: anyone's
  expect(buttons(user({ vision: 'viewer' }), veras)).toEqual([]); // a viewer only reads
  expect(buttons(user({ vision: 'admin' }, { max_role: 'viewer', via: 'api' }), veras)).toEqual([]); // a read-only token
  expect(buttons({ mode: 'users', user: 'vera', admin: false, roles: { vision: 'member' }, via: 'job', run_id: 'r1' }, veras)).toEqual([]); // a trial's job token
  expect(buttons(user({ vision: 'member' }), sweep({ owner: 'vera', state: 'PAUSED' }))).toEqual(['Resume', 'Stop']);
  expect(buttons({ mode: 'open', admin: true, roles: {}, via: 'open' }, sweep({}))).toEqual(['Pause', 'Stop']); // alone, no users
  expect(buttons(null, veras)).toEqual([]); // before the server said who we are
});

test('the sweeps list names each sweep owner, where there is one', () => {
  render(<SweepsTable sweeps={[sweep({ owner: 'vera' }), sweep({ id: 's2', name: 'old' })]} />);
  const rows = within(screen.getByRole('table')).getAllByRole('row').slice(1);
  expect(rows[0].textContent).toContain('by vera');
  expect(rows[1].textContent).not.toContain('by ');
});
