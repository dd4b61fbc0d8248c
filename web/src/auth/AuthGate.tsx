import { Fragment, useEffect, useState, type ReactNode } from 'react';
import { signedIn, useAuthState, type AuthNeed } from './authState';
import { LoginPage } from './LoginPage';
import { authMode, loadMe, logout, useMe } from './session';
import { clearToken, getToken } from './token';
import { TokenPrompt } from './TokenPrompt';

/**
 * AuthGate shows the page, or, once the server has answered 401, the
 * sign-in component in its place: the login page on a server with users,
 * the token prompt on one with a shared token. After sign-in the page
 * mounts afresh, and the UI asks again who it is signed in as.
 */
export function AuthGate({ children }: { children: ReactNode }) {
  const { need, generation } = useAuthState();
  useEffect(() => {
    if (!need) void loadMe().catch(() => {}); // a 401 here brings the sign-in
  }, [need, generation]);
  if (need) return <SignIn need={need} />;
  return <Fragment key={generation}>{children}</Fragment>;
}

function SignIn({ need }: { need: AuthNeed }) {
  const [mode, setMode] = useState<'open' | 'token' | 'users' | null>(null);
  const [useToken, setUseToken] = useState(false);
  const [error, setError] = useState('');
  useEffect(() => {
    authMode()
      .then((m) => (m === 'open' ? signedIn() : setMode(m)))
      .catch(() => setError('Cannot reach the trainyard server. Is `trainyard up` still running?'));
  }, []);
  if (error) return <p className="error" role="alert">{error}</p>;
  if (!mode) return <p className="muted">Connecting…</p>;
  if (mode === 'users' && !useToken) return <LoginPage need={need} onUseToken={() => setUseToken(true)} />;
  return <TokenPrompt need={need} onSignedIn={signedIn} />;
}

/** SignOut forgets the API token kept in this browser; shown only while there is one and no user is logged in. */
export function SignOut() {
  useAuthState(); // re-render after sign-in
  const me = useMe();
  if (!getToken() || me?.mode === 'users') return null;
  const out = () => {
    clearToken();
    location.reload();
  };
  return (
    <button type="button" className="icon-button small" onClick={out} title="Forget the API token kept in this browser">
      Forget token
    </button>
  );
}

/** UserMenu says who is signed in to a server with users, with their roles, and logs out. */
export function UserMenu() {
  const me = useMe();
  const [open, setOpen] = useState(false);
  if (!me || me.mode !== 'users') return null;
  const who = me.user ?? (me.via === 'token' ? 'shared token' : 'a job');
  const roles = Object.entries(me.roles).sort(([a], [b]) => a.localeCompare(b));
  return (
    <div className="user-menu">
      <button type="button" className="icon-button small" aria-haspopup="true" aria-expanded={open} onClick={() => setOpen(!open)} aria-label={`Signed in as ${who}`}>
        {who}
        {me.admin ? ' · admin' : ''} ▾
      </button>
      {open && (
        <div className="card user-menu-panel" role="dialog" aria-label="Who you are">
          <p>
            Signed in as <strong>{who}</strong>
            {me.via === 'session' ? '' : me.via === 'token' ? ' with the server\u2019s token' : ' with an API token'}
          </p>
          {me.admin && <p className="small">Server admin: may do anything.</p>}
          {(me.project || me.max_role) && (
            <p className="small">
              This token is limited{me.project ? ` to project ${me.project}` : ''}
              {me.max_role ? ` to the ${me.max_role} role` : ''}.
            </p>
          )}
          {roles.length > 0 && (
            <ul className="small roles" aria-label="Your roles">
              {roles.map(([p, r]) => (
                <li key={p}>
                  {p === '*' ? 'every project' : p}: <strong>{r}</strong>
                </li>
              ))}
            </ul>
          )}
          {!me.admin && roles.length === 0 && <p className="small muted">No roles yet: ask an admin for one.</p>}
          <button type="button" onClick={() => void logout()}>
            {me.via === 'session' ? 'Log out' : 'Forget token'}
          </button>
        </div>
      )}
    </div>
  );
}
