// Where the UI keeps the API token of a server started with --token: for
// this browser tab's session (sessionStorage) by default, or also on this
// browser (localStorage) when the user asks to be remembered.

const KEY = 'trainyard.token';

// The token when storage is disabled: it then lasts as long as the page.
let memory = '';

function read(store: () => Storage): string {
  try {
    return store().getItem(KEY) ?? '';
  } catch {
    return '';
  }
}

/** getToken is the token to send: this session's, else the remembered one, else ''. */
export function getToken(): string {
  return read(() => sessionStorage) || read(() => localStorage) || memory;
}

/** isRemembered says whether the token is kept on this browser beyond the tab's session. */
export function isRemembered(): boolean {
  return read(() => localStorage) !== '';
}

/** setToken keeps token for this session, and on this browser too when remember is set. */
export function setToken(token: string, remember = false): void {
  clearToken();
  if (!token) return;
  try {
    sessionStorage.setItem(KEY, token);
    if (remember) localStorage.setItem(KEY, token);
  } catch {
    memory = token;
  }
}

/** clearToken forgets the token everywhere. */
export function clearToken(): void {
  memory = '';
  for (const store of [() => sessionStorage, () => localStorage]) {
    try {
      store().removeItem(KEY);
    } catch {
      // storage disabled
    }
  }
}
