import { afterEach, expect, test, vi } from 'vitest';
import { apiFetch } from './client';
import { takeEarly } from './early';

afterEach(() => {
  window.__trainyardEarly = undefined;
  vi.unstubAllGlobals();
});

const early = (url: string, token = '') => {
  window.__trainyardEarly = { url, token, response: Promise.resolve(new Response('{"early":true}', { status: 200 })) };
};

test('the early answer is taken once, for its URL and token, while the page is young', () => {
  early('/api/v1/runs/a');
  expect(takeEarly('/api/v1/runs/b', '')).toBeUndefined();
  expect(takeEarly('/api/v1/runs/a', 'other-token')).toBeUndefined();
  expect(takeEarly('/api/v1/runs/a', '')).toBeInstanceOf(Promise);
  expect(takeEarly('/api/v1/runs/a', '')).toBeUndefined();
  early('/api/v1/runs/a');
  expect(takeEarly('/api/v1/runs/a', '', 60_000)).toBeUndefined(); // too old
  expect(window.__trainyardEarly).toBeUndefined();
});

test('apiFetch answers a GET from the early request, and asks the server for the rest', async () => {
  const fetch = vi.fn(async () => new Response('{"early":false}', { status: 200 }));
  vi.stubGlobal('fetch', fetch);
  early('/api/v1/batch/runs?id=a&id=b');
  expect(await (await apiFetch('/api/v1/batch/runs?id=a&id=b')).json()).toEqual({ early: true });
  expect(fetch).not.toHaveBeenCalled();
  expect(await (await apiFetch('/api/v1/batch/runs?id=a&id=b')).json()).toEqual({ early: false });
  early('/api/v1/runs/a');
  await apiFetch('/api/v1/runs/a', { method: 'PATCH', body: '{}' });
  expect(fetch).toHaveBeenCalledTimes(2);
});
