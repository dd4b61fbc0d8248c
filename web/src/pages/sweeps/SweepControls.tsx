import { useState } from 'react';
import { ApiError, enc, sendJSON } from '../../api/client';
import type { Sweep } from '../../api/types';
import { canChange, useMe } from '../../auth/session';

const ACTIVE = new Set(['RUNNING', 'PAUSED', 'STOPPING']);

/**
 * SweepControls pause, resume or stop the sweep. They are shown only to
 * whom the server lets change it (its owner as a member, the project's
 * admins), as a job's cancel button is.
 */
export function SweepControls({ sweep, onDone }: { sweep: Sweep; onDone: () => void }) {
  const [busy, setBusy] = useState(false);
  const [err, setErr] = useState('');
  const me = useMe();
  if (!ACTIVE.has(sweep.state) || sweep.state === 'STOPPING') return null;
  if (!canChange(me, sweep.project, sweep.owner)) return null;
  const act = async (action: 'pause' | 'resume' | 'stop') => {
    if (action === 'stop' && !confirm(`Stop sweep ${sweep.name}? Its running trials are canceled.`)) return;
    setBusy(true);
    setErr('');
    try {
      await sendJSON('POST', `/api/v1/sweeps/${enc(sweep.id)}/${action}`);
      onDone();
    } catch (e) {
      setErr(e instanceof ApiError ? e.message : String(e));
    } finally {
      setBusy(false);
    }
  };
  return (
    <span className="sweep-controls">
      {sweep.state === 'RUNNING' && (
        <button type="button" disabled={busy} onClick={() => act('pause')}>
          Pause
        </button>
      )}
      {sweep.state === 'PAUSED' && (
        <button type="button" disabled={busy} onClick={() => act('resume')}>
          Resume
        </button>
      )}
      <button type="button" className="danger" disabled={busy} onClick={() => act('stop')}>
        Stop
      </button>
      {err && (
        <span className="error small" role="alert">
          {' '}
          {err}
        </span>
      )}
    </span>
  );
}
