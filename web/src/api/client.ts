// Fetching from the trainyard API: JSON with the API's error shape, an
// optional bearer token (or the login cookie, which the browser sends, with
// its CSRF token), and conditional GETs (ETag) for polling.

import { reportUnauthorized } from '../auth/authState';
import { getCSRF } from '../auth/csrf';
import { getToken } from '../auth/token';
import { takeEarly } from './early';

export { getToken } from '../auth/token';

export const API = '/api/v1';

/** ApiError is a failed request, with the server's message when it sent one. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly field?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * apiFetch is fetch with the token, turning error answers into ApiError. A
 * 401 is also reported to the AuthGate, which then asks for a token. A GET
 * that index.html already sent (early.ts) takes that answer.
 */
export async function apiFetch(url: string, init: RequestInit = {}): Promise<Response> {
  const token = getToken();
  const headers = new Headers(init.headers);
  if (token) headers.set('Authorization', `Bearer ${token}`);
  // A session (the login cookie) must show its CSRF token to change state.
  const csrf = getCSRF();
  if (csrf && !['GET', 'HEAD', 'OPTIONS'].includes((init.method ?? 'GET').toUpperCase())) headers.set('X-CSRF-Token', csrf);
  let res: Response;
  try {
    const early = !init.method || init.method === 'GET' ? takeEarly(url, token) : undefined;
    res = await (early ?? fetch(url, { ...init, headers }));
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Cannot reach the trainyard server. Is `trainyard up` still running?');
  }
  if (!res.ok && res.status !== 304) {
    const err = await errorOf(res);
    if (res.status === 401) reportUnauthorized(token, err.message);
    throw err;
  }
  return res;
}

async function errorOf(res: Response): Promise<ApiError> {
  let code = 'http', message = `${res.status} ${res.statusText}`, field: string | undefined;
  try {
    const body = await res.json();
    if (body?.error?.message) {
      code = body.error.code ?? code;
      message = body.error.message;
      field = body.error.field;
    }
  } catch {
    // not JSON: keep the status line
  }
  return new ApiError(res.status, code, message, field);
}

export async function getJSON<T>(url: string, signal?: AbortSignal): Promise<T> {
  const res = await apiFetch(url, { signal });
  return (await res.json()) as T;
}

export async function sendJSON<T>(method: string, url: string, body?: unknown): Promise<T> {
  const res = await apiFetch(url, {
    method,
    headers: body === undefined ? undefined : { 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return (await res.json()) as T;
}

/**
 * Conditional is a GET that remembers the last ETag: get() answers
 * undefined when the server says 304 Not Modified, so a poller keeps what
 * it has without parsing or re-rendering.
 */
export class Conditional<T> {
  private etag = '';
  constructor(readonly url: string) {}

  async get(signal?: AbortSignal): Promise<T | undefined> {
    const headers: Record<string, string> = {};
    if (this.etag) headers['If-None-Match'] = this.etag;
    // no-store: the browser must not answer a 304 from its own cache.
    const res = await apiFetch(this.url, { signal, headers, cache: 'no-store' });
    if (res.status === 304) return undefined;
    this.etag = res.headers.get('ETag') ?? '';
    return (await res.json()) as T;
  }
}

/** query builds a query string, leaving out empty values; arrays repeat the key. */
export function query(params: Record<string, string | number | boolean | undefined | null | string[]>): string {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(params)) {
    if (v === undefined || v === null || v === '') continue;
    if (Array.isArray(v)) v.forEach((x) => q.append(k, x));
    else q.set(k, String(v));
  }
  const s = q.toString();
  return s ? `?${s}` : '';
}

export const enc = encodeURIComponent;

/** keyPath encodes a metric key or artifact path for a URL path, keeping its slashes. */
export function keyPath(key: string): string {
  return key.split('/').map(enc).join('/');
}
