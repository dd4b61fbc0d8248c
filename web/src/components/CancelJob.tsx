import { useState } from 'react';
import { ApiError, enc, sendJSON } from '../api/client';
import type { Job } from '../api/types';
import { canChange, useMe } from '../auth/session';

/**
 * CancelJob asks once more before it cancels a job, then reports what the
 * server said. It is shown only to whom the server lets cancel the job
 * (its owner as a member, the project's admins).
 */
export function CancelJob({ id, name, project, owner, onDone }: { id: string; name: string; project: string; owner?: string; onDone?: (j: Job) => void }) {
  const [step, setStep] = useState<'idle' | 'confirm' | 'busy'>('idle');
  const [error, setError] = useState('');
  const me = useMe();
  if (!canChange(me, project, owner)) return null;
  const cancel = async () => {
    setStep('busy');
    setError('');
    try {
      const j = await sendJSON<Job>('POST', `/api/v1/jobs/${enc(id)}/cancel`);
      onDone?.(j);
    } catch (e) {
      setError(e instanceof ApiError ? e.message : String(e));
    }
    setStep('idle');
  };
  if (step === 'confirm') {
    return (
      <span className="confirm" role="group" aria-label={`Cancel ${name}?`}>
        <span className="small">Cancel {name}?</span>
        <button type="button" className="danger" onClick={cancel} autoFocus>
          Yes, cancel
        </button>
        <button type="button" onClick={() => setStep('idle')}>
          Keep
        </button>
      </span>
    );
  }
  return (
    <span>
      <button type="button" className="danger-outline" disabled={step === 'busy'} onClick={() => setStep('confirm')} aria-label={`Cancel job ${name}`}>
        {step === 'busy' ? 'Canceling…' : 'Cancel'}
      </button>
      {error && (
        <span className="error small" role="alert">
          {' '}
          {error}
        </span>
      )}
    </span>
  );
}
