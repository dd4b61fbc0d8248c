import { useState, type FormEvent } from 'react';
import type { AuthNeed } from './authState';
import { setToken } from './token';

/** checkToken asks the server whether it takes token: true, false, or an Error when it cannot be reached. */
export async function checkToken(token: string): Promise<boolean> {
  let res: Response;
  try {
    res = await fetch('/api/v1/health', { headers: { Authorization: `Bearer ${token}` }, cache: 'no-store' });
  } catch {
    throw new Error('Cannot reach the trainyard server. Is `trainyard up` still running?');
  }
  if (res.status === 401) return false;
  if (!res.ok) throw new Error(`The server answered ${res.status} ${res.statusText}.`);
  return true;
}

/**
 * TokenPrompt asks for the API token of a server started with --token,
 * checks it with the server, and keeps it for this session (or on this
 * browser, when asked). It is the AuthGate's sign-in component until
 * servers have users to log in.
 */
export function TokenPrompt({ need, onSignedIn }: { need: AuthNeed; onSignedIn: () => void }) {
  const [value, setValue] = useState('');
  const [remember, setRemember] = useState(false);
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const token = value.trim();
    if (!token) return setError('Enter the token.');
    setBusy(true);
    setError('');
    try {
      if (await checkToken(token)) {
        setToken(token, remember);
        onSignedIn();
        return;
      }
      setError('The server refused this token. Check it and try again.');
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <form className="card sign-in" onSubmit={submit} aria-labelledby="sign-in-title">
      <h1 id="sign-in-title">{need.reason === 'refused' ? 'Token refused' : 'This server needs a token'}</h1>
      <p>
        {need.reason === 'refused'
          ? 'The server refused the token this browser had (was it restarted with a different --token?). Enter the current one.'
          : 'This trainyard server was started with --token (TRAINYARD_TOKEN): enter that token to see its runs.'}
      </p>
      <label className="field">
        Access token
        <input
          type="password"
          name="token"
          autoComplete="current-password"
          value={value}
          onChange={(e) => setValue(e.target.value)}
          autoFocus
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'sign-in-error' : undefined}
        />
      </label>
      <label>
        <input type="checkbox" checked={remember} onChange={(e) => setRemember(e.target.checked)} /> Remember on this browser
      </label>
      {error && (
        <p id="sign-in-error" className="error" role="alert">
          {error}
        </p>
      )}
      <div>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Checking…' : 'Continue'}
        </button>
      </div>
      <p className="small muted">
        Kept for this tab only unless remembered. The command line uses the same token: <code>export TRAINYARD_TOKEN=…</code>
      </p>
    </form>
  );
}
