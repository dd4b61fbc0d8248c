import { act, fireEvent, render, screen, waitFor } from '@testing-library/react';
import { useEffect, useState } from 'react';
import { afterEach, beforeEach, expect, test, vi } from 'vitest';
import { apiFetch } from '../api/client';
import { AuthGate, SignOut } from './AuthGate';
import { getAuthState, reportUnauthorized, signedIn } from './authState';
import { clearToken, getToken, isRemembered, setToken } from './token';

beforeEach(() => {
  clearToken();
  if (getAuthState().need) signedIn();
});
afterEach(() => vi.unstubAllGlobals());

test('the token is kept for the session, and on the browser only when remembered', () => {
  setToken('abc');
  expect([getToken(), sessionStorage.getItem('trainyard.token'), localStorage.getItem('trainyard.token'), isRemembered()]).toEqual(['abc', 'abc', null, false]);
  setToken('def', true);
  expect([getToken(), localStorage.getItem('trainyard.token'), isRemembered()]).toEqual(['def', 'def', true]);
  sessionStorage.clear(); // a new tab of the same browser
  expect(getToken()).toBe('def');
  clearToken();
  expect(getToken()).toBe('');
});

test('a 401 without a token asks for one; with a token, forgets the refused one; a stale answer is ignored', () => {
  reportUnauthorized('', 'missing or wrong token');
  expect(getAuthState().need?.reason).toBe('missing');
  signedIn();

  setToken('old');
  reportUnauthorized('older', 'stale: sent before the token changed');
  expect(getAuthState().need).toBeNull();
  expect(getToken()).toBe('old');
  reportUnauthorized('old', 'missing or wrong token');
  expect(getAuthState().need?.reason).toBe('refused');
  expect(getToken()).toBe('');
  reportUnauthorized('', 'the next request, without it');
  expect(getAuthState().need?.reason).toBe('refused');
});

/** A page that lists what the API answered, or the error. */
function Page() {
  const [text, setText] = useState('loading');
  useEffect(() => {
    apiFetch('/api/v1/projects')
      .then((r) => r.json())
      .then((b) => setText(`projects: ${b.projects.join(',')}`))
      .catch((e) => setText(`error: ${e.message}`));
  }, []);
  return <p>{text}</p>;
}

/** A server started with --token good-token. */
function stubServer() {
  const seen: (string | null)[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string, init?: RequestInit) => {
      if (url === '/api/v1/auth/config') return new Response(JSON.stringify({ mode: 'token' }), { status: 200 }); // public
      const auth = new Headers(init?.headers).get('Authorization');
      seen.push(auth);
      if (auth !== 'Bearer good-token') {
        return new Response(JSON.stringify({ error: { code: 'unauthorized', message: 'missing or wrong token' } }), { status: 401 });
      }
      const body = url === '/api/v1/health' ? { status: 'ok' } : url === '/api/v1/auth/me' ? { mode: 'token', admin: true, roles: {}, via: 'token' } : { projects: ['vision'] };
      return new Response(JSON.stringify(body), { status: 200, headers: { 'Content-Type': 'application/json' } });
    }),
  );
  return seen;
}

test('the gate asks for the token, refuses a wrong one, and shows the page with the right one', async () => {
  const seen = stubServer();
  render(
    <>
      <SignOut />
      <AuthGate>
        <Page />
      </AuthGate>
    </>,
  );
  await screen.findByRole('heading', { name: 'This server needs a token' });
  expect(screen.queryByRole('button', { name: 'Forget token' })).toBeNull();

  fireEvent.change(screen.getByLabelText('Access token'), { target: { value: 'bad-token' } });
  fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
  expect((await screen.findByRole('alert')).textContent).toMatch(/refused this token/);
  expect(getToken()).toBe('');

  fireEvent.change(screen.getByLabelText('Access token'), { target: { value: ' good-token ' } });
  fireEvent.click(screen.getByRole('button', { name: 'Continue' }));
  await screen.findByText('projects: vision');
  expect(getToken()).toBe('good-token');
  expect(sessionStorage.getItem('trainyard.token')).toBe('good-token');
  expect(localStorage.getItem('trainyard.token')).toBeNull();
  expect(seen.at(-1)).toBe('Bearer good-token');
  screen.getByRole('button', { name: 'Forget token' });
});

test('a kept token that the server refuses brings the prompt back, saying so', async () => {
  stubServer();
  setToken('changed-since', true);
  render(
    <AuthGate>
      <Page />
    </AuthGate>,
  );
  await screen.findByRole('heading', { name: 'Token refused' });
  expect(screen.getByText(/refused the token this browser had/)).toBeTruthy();
  expect(getToken()).toBe('');
  fireEvent.change(screen.getByLabelText('Access token'), { target: { value: 'good-token' } });
  fireEvent.click(screen.getByLabelText('Remember on this browser'));
  await act(async () => fireEvent.click(screen.getByRole('button', { name: 'Continue' })));
  await waitFor(() => expect(localStorage.getItem('trainyard.token')).toBe('good-token'));
  await screen.findByText('projects: vision');
});
