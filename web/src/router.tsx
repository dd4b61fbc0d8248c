// A small router over the History API: pages are chosen by path, and page
// state (filters, selections, columns, chart options) lives in the query
// string so that any view can be shared as a URL.
import { useCallback, useSyncExternalStore, type AnchorHTMLAttributes, type MouseEvent } from 'react';

const listeners = new Set<() => void>();
const notify = () => listeners.forEach((l) => l());
window.addEventListener('popstate', notify);

function subscribe(l: () => void) {
  listeners.add(l);
  return () => listeners.delete(l);
}

const snapshot = () => location.pathname + location.search;

/** navigate goes to an in-app URL; replace keeps the history entry (for typing in filters). */
export function navigate(to: string, opts: { replace?: boolean } = {}): void {
  if (to === snapshot()) return;
  if (opts.replace) history.replaceState(null, '', to);
  else history.pushState(null, '', to);
  if (!opts.replace) window.scrollTo(0, 0);
  notify();
}

export interface Location {
  path: string;
  query: URLSearchParams;
}

export function useLocation(): Location {
  const s = useSyncExternalStore(subscribe, snapshot);
  const i = s.indexOf('?');
  return { path: i < 0 ? s : s.slice(0, i), query: new URLSearchParams(i < 0 ? '' : s.slice(i)) };
}

/** matchPath matches "/runs/:id" against a path; answers the decoded params or null. */
export function matchPath(pattern: string, path: string): Record<string, string> | null {
  const p = pattern.split('/').filter(Boolean);
  const a = path.split('/').filter(Boolean);
  if (p.length !== a.length) return null;
  const out: Record<string, string> = {};
  for (let i = 0; i < p.length; i++) {
    if (p[i].startsWith(':')) out[p[i].slice(1)] = decodeURIComponent(a[i]);
    else if (p[i] !== a[i]) return null;
  }
  return out;
}

/** withQuery returns path with the query changed: null or '' removes a key. */
export function withQuery(path: string, query: URLSearchParams, changes: Record<string, string | null | undefined>): string {
  const q = new URLSearchParams(query);
  for (const [k, v] of Object.entries(changes)) {
    if (v === null || v === undefined || v === '') q.delete(k);
    else q.set(k, v);
  }
  const s = q.toString();
  return s ? `${path}?${s}` : path;
}

/**
 * useQueryParam is one query-string value as state: [value, set]. Setting
 * replaces the history entry unless push is asked for.
 */
export function useQueryParam(name: string, fallback = ''): [string, (v: string | null, push?: boolean) => void] {
  const { query } = useLocation();
  const value = query.get(name) ?? fallback;
  const set = useCallback(
    (v: string | null, push = false) => {
      const cur = new URLSearchParams(location.search);
      navigate(withQuery(location.pathname, cur, { [name]: v === fallback ? null : v }), { replace: !push });
    },
    [name, fallback],
  );
  return [value, set];
}

type LinkProps = AnchorHTMLAttributes<HTMLAnchorElement> & { to: string };

/** Link is an anchor that navigates in-app on a plain click and behaves as a link otherwise. */
export function Link({ to, onClick, ...rest }: LinkProps) {
  const click = (e: MouseEvent<HTMLAnchorElement>) => {
    onClick?.(e);
    if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
    e.preventDefault();
    navigate(to);
  };
  return <a href={to} onClick={click} {...rest} />;
}
