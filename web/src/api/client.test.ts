import { afterEach, expect, test, vi } from 'vitest';
import { ApiError, Conditional, keyPath, query } from './client';

afterEach(() => vi.unstubAllGlobals());

test('Conditional sends the ETag back and answers undefined on 304', async () => {
  const seen: (string | null)[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (_url: string, init: RequestInit) => {
      const tag = new Headers(init.headers).get('If-None-Match');
      seen.push(tag);
      if (tag === '"v1"') return new Response(null, { status: 304 });
      return new Response(JSON.stringify({ n: 1 }), { status: 200, headers: { ETag: '"v1"', 'Content-Type': 'application/json' } });
    }),
  );
  const c = new Conditional<{ n: number }>('/api/v1/runs');
  expect(await c.get()).toEqual({ n: 1 });
  expect(await c.get()).toBeUndefined();
  expect(seen).toEqual([null, '"v1"']);
});

test('errors carry the server message and field', async () => {
  vi.stubGlobal('fetch', vi.fn(async () => new Response(JSON.stringify({ error: { code: 'invalid', message: 'filter: bad', field: 'filter' } }), { status: 400 })));
  const err = (await new Conditional('/x').get().catch((e) => e)) as ApiError;
  expect(err).toBeInstanceOf(ApiError);
  expect([err.status, err.code, err.message, err.field]).toEqual([400, 'invalid', 'filter: bad', 'filter']);
});

test('a server that cannot be reached says what to check', async () => {
  vi.stubGlobal('fetch', vi.fn(async () => Promise.reject(new TypeError('Failed to fetch'))));
  await expect(new Conditional('/x').get()).rejects.toThrow(/trainyard up/);
});

test('query and keyPath', () => {
  expect(query({ a: 'x y', b: '', c: undefined, d: 0, e: ['1', '2'] })).toBe('?a=x+y&d=0&e=1&e=2');
  expect(query({})).toBe('');
  expect(keyPath('val/top 1%')).toBe('val/top%201%25');
});
