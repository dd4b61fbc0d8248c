// Fetching from the trainyard API: JSON with the API's error shape, an
// optional bearer token, and conditional GETs (ETag) for polling.

export const API = '/api/v1';

const TOKEN_KEY = 'trainyard.token';

export function getToken(): string {
  try {
    return localStorage.getItem(TOKEN_KEY) ?? '';
  } catch {
    return '';
  }
}

export function setToken(token: string): void {
  if (token) localStorage.setItem(TOKEN_KEY, token);
  else localStorage.removeItem(TOKEN_KEY);
}

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

export function authHeaders(extra?: HeadersInit): Headers {
  const h = new Headers(extra);
  const t = getToken();
  if (t) h.set('Authorization', `Bearer ${t}`);
  return h;
}

/** apiFetch is fetch with the token, turning error answers into ApiError. */
export async function apiFetch(url: string, init: RequestInit = {}): Promise<Response> {
  let res: Response;
  try {
    res = await fetch(url, { ...init, headers: authHeaders(init.headers) });
  } catch (e) {
    if ((e as Error).name === 'AbortError') throw e;
    throw new ApiError(0, 'network', 'Cannot reach the trainyard server. Is `trainyard up` still running?');
  }
  if (!res.ok && res.status !== 304) throw await errorOf(res);
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
