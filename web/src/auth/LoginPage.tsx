import { useState, type FormEvent } from 'react';
import type { AuthNeed } from './authState';
import { login } from './session';

/**
 * LoginPage lets a user of a server with users log in with a name and
 * password; the server answers with a session cookie (HttpOnly, so this
 * page never sees it). Someone holding an API token, or the server's
 * shared token, can use it instead.
 */
export function LoginPage({ need, onUseToken }: { need: AuthNeed; onUseToken: () => void }) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState('');
  const [busy, setBusy] = useState(false);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!user.trim() || !password) return setError('Enter your user name and password.');
    setBusy(true);
    setError('');
    try {
      await login(user.trim(), password);
    } catch (err) {
      setError((err as Error).message);
      setBusy(false);
    }
  };
  const why =
    need.reason === 'refused'
      ? 'The server refused the token this browser had: log in, or use another token.'
      : /session|logged out/i.test(need.serverMessage)
        ? 'Your session has ended. Log in again to go on.'
        : 'This server has users: log in to see its runs and jobs.';
  return (
    <form className="card sign-in" onSubmit={submit} aria-labelledby="login-title">
      <h1 id="login-title">Log in to trainyard</h1>
      <p>{why}</p>
      <label className="field">
        User name
        <input name="username" autoComplete="username" value={user} onChange={(e) => setUser(e.target.value)} autoFocus />
      </label>
      <label className="field">
        Password
        <input
          type="password"
          name="password"
          autoComplete="current-password"
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          aria-invalid={error ? true : undefined}
          aria-describedby={error ? 'login-error' : undefined}
        />
      </label>
      {error && (
        <p id="login-error" className="error" role="alert">
          {error}
        </p>
      )}
      <div>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Logging in…' : 'Log in'}
        </button>
      </div>
      <p className="small muted">
        No password? An admin gives one with <code>trainyard user add</code>.{' '}
        <button type="button" className="link" onClick={onUseToken}>
          Use an API token instead
        </button>
      </p>
    </form>
  );
}
