import { render, screen } from '@testing-library/react';
import { afterEach, expect, test, vi } from 'vitest';
import { ModelPage, ModelsPage } from './ModelsPage';

const answer = (status: number, body: unknown) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });
afterEach(() => vi.unstubAllGlobals());

test('without a registry (404) the page says it is not available', async () => {
  vi.stubGlobal('fetch', vi.fn(async () => answer(404, { error: { code: 'not_found', message: 'no API route' } })));
  render(<ModelsPage />);
  expect(await screen.findByRole('heading', { name: 'Model registry not available on this server' })).toBeTruthy();
});

test('a model page lists versions with aliases and links to the source runs', async () => {
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string) =>
      url.includes('registered-models')
        ? answer(200, { registered_models: [{ name: 'digits', aliases: [{ alias: 'champion', version: '3' }] }] })
        : answer(200, { model_versions: [{ name: 'digits', version: '3', run_id: 'abc123', status: 'READY' }, { name: 'digits', version: '2', source: 's3://x' }] }),
    ),
  );
  render(<ModelPage name="digits" />);
  const link = await screen.findByRole('link', { name: 'abc123' });
  expect(link.getAttribute('href')).toBe('/runs/abc123');
  expect(screen.getByText('@champion')).toBeTruthy();
  expect(screen.getByText('s3://x')).toBeTruthy();
});
