import { fireEvent, render, screen, waitFor, within } from '@testing-library/react';
import { useEffect, useState } from 'react';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { apiFetch, sendJSON } from '../api/client';
import { AuthGate, SignOut, UserMenu } from './AuthGate';
import { getAuthState, signedIn } from './authState';
import { getCSRF } from './csrf';
import { getMe, setMe } from './session';
import { clearToken, getToken, setToken } from './token';

beforeEach(() => {
  clearToken();
  setMe(null);
  if (getAuthState().need) signedIn();
});
afterEach(() => vi.unstubAllGlobals());

const json = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
const refused = (message: string) => json(401, { error: { code: 'unauthorized', message } });

/**
 * A server with users, as http/auth.go answers: the session lives in a
 * cookie the browser keeps (here, jar), state-changing requests with it
 * need the session's CSRF token, and an API token works as a bearer.
 */
function usersServer() {
  const srv = { jar: '', ended: '', calls: [] as { method: string; url: string; csrf: string | null; auth: string | null }[] };
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init: RequestInit = {}) => {
      const method = (init.method ?? 'GET').toUpperCase();
      const h = new Headers(init.headers);
      srv.calls.push({ method, url, csrf: h.get('X-CSRF-Token'), auth: h.get('Authorization') });
      if (url === '/api/v1/auth/config') return json(200, { mode: 'users' });
      if (url === '/api/v1/auth/login') {
        const { user, password } = JSON.parse(String(init.body));
        if (user !== 'vera' || password !== 'correct horse') return refused('wrong user name or password');
        srv.jar = 'session-1';
        return json(200, { user: 'vera', csrf_token: 'csrf-1', expires_at: '2030-01-01T00:00:00Z' });
      }
      if (url === '/api/v1/auth/logout') {
        srv.jar = '';
        return json(200, {});
      }
      const bearer = h.get('Authorization') === 'Bearer vera-api-token';
      if (!srv.jar && !bearer) return refused(srv.ended || 'authentication required: this server has users');
      const via = bearer ? 'api' : 'session';
      if (method !== 'GET' && via === 'session' && h.get('X-CSRF-Token') !== 'csrf-1') return json(403, { error: { code: 'forbidden', message: 'missing or wrong X-CSRF-Token header' } });
      if (url === '/api/v1/auth/me') return json(200, { mode: 'users', user: 'vera', admin: false, roles: { vision: 'member' }, via, ...(via === 'session' ? { csrf_token: 'csrf-1' } : {}) });
      if (url === '/api/v1/health') return json(200, { status: 'ok' });
      if (url === '/api/v1/projects') return json(200, { projects: ['vision'] });
      if (url === '/api/v1/jobs/j1/cancel') return json(200, { id: 'j1', state: 'CANCELED' });
      return json(404, { error: { code: 'not_found', message: url } });
    }),
  );
  return srv;
}

/** A page that lists projects and can cancel a job. */
function Page() {
  const [text, setText] = useState('loading');
  const [done, setDone] = useState('');
  useEffect(() => {
    apiFetch('/api/v1/projects')
      .then((r) => r.json())
      .then((b) => setText(`projects: ${b.projects.join(',')}`))
      .catch((e) => setText(`error: ${e.message}`));
  }, []);
  const cancel = () =>
    sendJSON<{ state: string }>('POST', '/api/v1/jobs/j1/cancel')
      .then((j) => setDone(j.state))
      .catch((e) => setDone(`error: ${e.message}`));
  return (
    <>
      <p>{text}</p>
      <button type="button" onClick={cancel}>
        cancel j1
      </button>
      {done && <p>job: {done}</p>}
    </>
  );
}

const app = () =>
  render(
    <>
      <UserMenu />
      <SignOut />
      <AuthGate>
        <Page />
      </AuthGate>
    </>,
  );

const logIn = (user: string, password: string) => {
  fireEvent.change(screen.getByLabelText('User name'), { target: { value: user } });
  fireEvent.change(screen.getByLabelText('Password'), { target: { value: password } });
  fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
};

test('a server with users shows the login page; a wrong password is refused with the server’s words; the right one opens the UI', async () => {
  const srv = usersServer();
  app();
  await screen.findByRole('heading', { name: 'Log in to trainyard' });
  expect(screen.getByText(/This server has users/)).toBeTruthy();

  fireEvent.click(screen.getByRole('button', { name: 'Log in' }));
  expect(screen.getByRole('alert').textContent).toBe('Enter your user name and password.');
  expect(srv.calls.some((c) => c.url === '/api/v1/auth/login')).toBe(false);

  logIn('vera', 'wrong');
  expect((await screen.findByRole('alert')).textContent).toBe('wrong user name or password');
  expect(screen.getByLabelText('Password').getAttribute('aria-invalid')).toBe('true');

  logIn(' vera ', 'correct horse');
  await screen.findByText('projects: vision');
  expect(srv.jar).toBe('session-1');
  expect(getToken()).toBe(''); // the cookie, not a token, carries the session
  await waitFor(() => expect(getMe()?.user).toBe('vera'));
  expect(getCSRF()).toBe('csrf-1');
  expect(screen.queryByRole('button', { name: 'Forget token' })).toBeNull();

  // The user menu says who and with which roles.
  fireEvent.click(screen.getByRole('button', { name: 'Signed in as vera' }));
  const panel = screen.getByRole('dialog', { name: 'Who you are' });
  expect(within(panel).getByRole('list', { name: 'Your roles' }).textContent).toBe('vision: member');

  // State changes carry the session's CSRF token; reads do not need it.
  fireEvent.click(screen.getByRole('button', { name: 'cancel j1' }));
  await screen.findByText('job: CANCELED');
  const cancel = srv.calls.find((c) => c.url === '/api/v1/jobs/j1/cancel');
  expect(cancel?.csrf).toBe('csrf-1');
  expect(srv.calls.find((c) => c.url === '/api/v1/projects' && c.method === 'GET' && srv.jar)?.csrf).toBeNull();

  // Logging out ends the session on the server and shows the login page.
  fireEvent.click(within(panel).getByRole('button', { name: 'Log out' }));
  await screen.findByRole('heading', { name: 'Log in to trainyard' });
  expect(srv.jar).toBe('');
  expect(srv.calls.at(-2)).toMatchObject({ method: 'POST', url: '/api/v1/auth/logout', csrf: 'csrf-1' });
  expect(getCSRF()).toBe('');
  expect(screen.queryByRole('button', { name: /Signed in as/ })).toBeNull();
});

test('a session that ends on the server brings the login page back, saying so', async () => {
  const srv = usersServer();
  srv.jar = 'session-1'; // logged in before this page loaded
  app();
  await screen.findByText('projects: vision');
  await waitFor(() => expect(getCSRF()).toBe('csrf-1')); // a reload gets the CSRF token again from /auth/me

  srv.jar = '';
  srv.ended = 'your session expired: log in again';
  fireEvent.click(screen.getByRole('button', { name: 'cancel j1' }));
  await screen.findByRole('heading', { name: 'Log in to trainyard' });
  expect(screen.getByText('Your session has ended. Log in again to go on.')).toBeTruthy();
  logIn('vera', 'correct horse');
  await screen.findByText('projects: vision');
});

test('an API token can be used instead of a password on a server with users', async () => {
  const srv = usersServer();
  app();
  fireEvent.click(await screen.findByRole('button', { name: 'Use an API token instead' }));
  fireEvent.change(screen.getByLabelText('Access token'), { target: { value: 'vera-api-token' } });
  fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
  await screen.findByText('projects: vision');
  expect(srv.calls.filter((c) => c.url === '/api/v1/projects').at(-1)?.auth).toBe('Bearer vera-api-token');
  await waitFor(() => expect(getMe()?.via).toBe('api'));
  fireEvent.click(screen.getByRole('button', { name: 'Signed in as vera' }));
  expect(screen.getByText(/with an API token/)).toBeTruthy();
  fireEvent.click(screen.getByRole('button', { name: 'Forget token' }));
  await screen.findByRole('heading', { name: 'Log in to trainyard' });
  expect(getToken()).toBe('');
  expect(srv.calls.some((c) => c.url === '/api/v1/auth/logout')).toBe(false); // nothing to end on the server
});

test('a kept token the server refuses is forgotten, and the login page says so', async () => {
  usersServer();
  setToken('revoked-token', true);
  app();
  await screen.findByRole('heading', { name: 'Log in to trainyard' });
  expect(screen.getByText(/refused the token this browser had/)).toBeTruthy();
  expect(getToken()).toBe('');
  logIn('vera', 'correct horse');
  await screen.findByText('projects: vision');
});
