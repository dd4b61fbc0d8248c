// Whether the server wants credentials the UI does not have: the API
// client reports a 401 here, and the AuthGate then shows the sign-in
// component (today the token prompt) in place of the page. Once the user
// is let in, the generation goes up and the page mounts afresh, so every
// request it makes goes out again with the new token.
import { useSyncExternalStore } from 'react';
import { clearToken, getToken } from './token';

export interface AuthNeed {
  /** missing: no token was sent; refused: the one sent was refused */
  reason: 'missing' | 'refused';
  /** the server's words */
  serverMessage: string;
}

export interface AuthState {
  need: AuthNeed | null;
  /** goes up each time the user is let in */
  generation: number;
}

let state: AuthState = { need: null, generation: 0 };
const listeners = new Set<() => void>();
const set = (s: AuthState) => {
  state = s;
  listeners.forEach((l) => l());
};

/**
 * reportUnauthorized records a 401 answer to a request sent with sentToken
 * ('' for none). A token that was refused is forgotten, so the next
 * requests do not repeat it; the answer to a request sent before the
 * token changed is ignored.
 */
export function reportUnauthorized(sentToken: string, serverMessage: string): void {
  if (sentToken !== getToken()) return;
  if (sentToken) clearToken();
  if (state.need && (state.need.reason === 'refused' || !sentToken)) return;
  set({ ...state, need: { reason: sentToken ? 'refused' : 'missing', serverMessage } });
}

/** signedOut shows the sign-in component again (after logging out or forgetting the token). */
export function signedOut(): void {
  set({ ...state, need: { reason: 'missing', serverMessage: '' } });
}

/** signedIn says the user has been let in (a token was accepted): the page mounts again. */
export function signedIn(): void {
  set({ need: null, generation: state.generation + 1 });
}

export function getAuthState(): AuthState {
  return state;
}

function subscribe(l: () => void) {
  listeners.add(l);
  return () => void listeners.delete(l);
}

export function useAuthState(): AuthState {
  return useSyncExternalStore(subscribe, getAuthState);
}
