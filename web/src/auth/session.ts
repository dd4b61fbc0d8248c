// Who the UI is signed in as (GET /api/v1/auth/me), logging in and out of
// a server with users, and what the signed-in user may do, as the server
// decides it (package access): the UI hides what a role cannot do, and the
// server refuses it anyway.
import { useSyncExternalStore } from 'react';
import { API, getJSON, sendJSON } from '../api/client';
import type { components } from '../api/schema';
import { signedIn, signedOut } from './authState';
import { setCSRF } from './csrf';
import { clearToken } from './token';

export type Me = components['schemas']['Me'];
export type Role = components['schemas']['Role'];

const RANK: Record<string, number> = { viewer: 1, member: 2, admin: 3 };

let me: Me | null = null;
const listeners = new Set<() => void>();

/** setMe records who the UI is signed in as (null: not known); loadMe calls it with the server's answer. */
export function setMe(m: Me | null): void {
  me = m;
  setCSRF(m?.csrf_token ?? '');
  listeners.forEach((l) => l());
}

/** loadMe asks the server who the UI is signed in as. */
export async function loadMe(): Promise<Me> {
  const m = await getJSON<Me>(`${API}/auth/me`);
  setMe(m);
  return m;
}

export function getMe(): Me | null {
  return me;
}

function subscribe(l: () => void) {
  listeners.add(l);
  return () => void listeners.delete(l);
}

/** useMe is who the UI is signed in as; null until the server said. */
export function useMe(): Me | null {
  return useSyncExternalStore(subscribe, getMe);
}

/** authMode asks the server how it lets people in (public). */
export async function authMode(): Promise<'open' | 'token' | 'users'> {
  const res = await fetch(`${API}/auth/config`, { cache: 'no-store' });
  if (!res.ok) throw new Error(`The server answered ${res.status} ${res.statusText}.`);
  return (await res.json()).mode;
}

/** login opens a session (the server sets its cookie); throws the server's message when refused. */
export async function login(user: string, password: string): Promise<void> {
  let res: Response;
  try {
    res = await fetch(`${API}/auth/login`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ user, password }),
    });
  } catch {
    throw new Error('Cannot reach the trainyard server. Is `trainyard up` still running?');
  }
  if (!res.ok) {
    let msg = `The server answered ${res.status} ${res.statusText}.`;
    try {
      msg = (await res.json()).error?.message ?? msg;
    } catch {
      // not JSON
    }
    throw new Error(msg);
  }
  const body = await res.json();
  clearToken(); // the session replaces a token kept from before
  setCSRF(body.csrf_token ?? '');
  signedIn();
}

/** logout ends the session, or forgets the token, and shows the sign-in page. */
export async function logout(): Promise<void> {
  if (me?.via === 'session') await sendJSON('POST', `${API}/auth/logout`).catch(() => {});
  clearToken();
  setMe(null);
  signedOut();
}

/** roleIn is the signed-in identity's role in a project, within its token's limits (as trainyard.Identity.RoleIn). */
export function roleIn(m: Me | null, project: string): Role | undefined {
  if (!m || (m.project && m.project !== project)) return undefined;
  let r: Role | undefined;
  if (m.admin) r = 'admin';
  else {
    r = m.roles['*'];
    const p = m.roles[project];
    if (p && (!r || RANK[p] > RANK[r])) r = p;
  }
  if (r && m.max_role && RANK[m.max_role] < RANK[r]) r = m.max_role;
  return r;
}

/**
 * canChange says whether the signed-in identity may change (cancel, end,
 * delete) a thing of project owned by owner, as access.Authorize decides
 * it: a member's own, or anything for the project's admin; a job's token
 * none. Unknown (before the server said): no.
 */
export function canChange(m: Me | null, project: string, owner?: string): boolean {
  if (!m || m.run_id) return false;
  if (m.admin && !m.project && !m.max_role) return true;
  const r = roleIn(m, project);
  return r === 'admin' || (r === 'member' && !!owner && owner === m.user);
}
