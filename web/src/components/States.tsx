import type { ReactNode } from 'react';
import type { ApiError } from '../api/client';
import type { RunState } from '../api/types';

/** Empty says there is nothing here yet, and what to do about it. */
export function Empty({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty" role="status">
      <h2>{title}</h2>
      {children}
    </div>
  );
}

/** Failed shows an error with the server's message and what to try. */
export function Failed({ error, what, children }: { error: ApiError | Error; what: string; children?: ReactNode }) {
  const status = 'status' in error ? (error as ApiError).status : 0;
  return (
    <div className="failed" role="alert">
      <h2>Could not load {what}</h2>
      <p>{error.message}</p>
      {children ?? <p className="muted">{hint(status)}</p>}
    </div>
  );
}

function hint(status: number): string {
  if (status === 0) return 'Check that the trainyard server is running (`trainyard up`), then reload this page.';
  if (status === 401) return 'This server needs a token: reload the page to enter it.';
  if (status === 404) return 'It may have been deleted, or the link is wrong. Go back to the projects list.';
  if (status >= 500) return 'The server failed; its log says why. Reload to try again.';
  return 'Fix the request above and try again.';
}

export function Loading({ what }: { what: string }) {
  return (
    <p className="loading muted" role="status" aria-live="polite">
      Loading {what}…
    </p>
  );
}

/**
 * StateBadge shows a run's or job's state. A live one (the run a page is
 * about) pulses while running; in lists it does not: a hundred endless
 * animations kept a software-rendered page redrawing every frame, which
 * cost the compare page about a fifth of its CPU before the first chart.
 */
export function StateBadge({ state, live = false }: { state: RunState; live?: boolean }) {
  return <span className={`badge state-${state.toLowerCase()}${live ? ' live' : ''}`}>{state.toLowerCase()}</span>;
}
