// The answer to a page's first request, sent by the inline script in
// index.html while the app's script was still loading (the compare page's
// runs, a run page's run): apiFetch takes it instead of asking again. It is
// taken once, for the same URL and token, within EARLY_MS of the page load.

export interface Early {
  url: string;
  token: string;
  response: Promise<Response>;
}

declare global {
  interface Window {
    __trainyardEarly?: Early;
  }
}

const EARLY_MS = 10_000;

/** takeEarly answers the early response for url when there is one (once), else undefined. */
export function takeEarly(url: string, token: string, now = performance.now()): Promise<Response> | undefined {
  const e = window.__trainyardEarly;
  if (!e) return undefined;
  if (now > EARLY_MS) {
    window.__trainyardEarly = undefined; // too old to stand for a new request
    return undefined;
  }
  if (e.url !== url || e.token !== token) return undefined;
  window.__trainyardEarly = undefined;
  return e.response;
}
