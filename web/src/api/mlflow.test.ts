import { afterEach, expect, test, vi } from 'vitest';
import { modelRows, searchModels, searchVersions, versionRows } from './mlflow';

const answer = (status: number, body: unknown) =>
  new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } });

afterEach(() => vi.unstubAllGlobals());

test('a registry that answers 404 is not available', async () => {
  vi.stubGlobal('fetch', vi.fn(async () => answer(404, { error: { code: 'not_found', message: 'no API route' } })));
  expect(await searchModels()).toEqual({ available: false, items: [] });
  expect(await searchVersions('m')).toEqual({ available: false, items: [] });
});

test('other errors are errors', async () => {
  vi.stubGlobal('fetch', vi.fn(async () => answer(500, { error: { code: 'internal', message: 'internal error' } })));
  await expect(searchModels()).rejects.toThrow('internal error');
});

test('searches follow next_page_token and quote the model name in the filter', async () => {
  const f = vi.fn(async (url: string) => {
    const u = new URL(url, 'http://x');
    return u.searchParams.get('page_token')
      ? answer(200, { model_versions: [{ name: "it's", version: '1' }] })
      : answer(200, { model_versions: [{ name: "it's", version: '2' }], next_page_token: 'p2' });
  });
  vi.stubGlobal('fetch', f);
  const got = await searchVersions("it's");
  expect(got.items.map((v) => v.version)).toEqual(['2', '1']);
  expect(new URL(f.mock.calls[0][0], 'http://x').searchParams.get('filter')).toBe("name='it\\'s'");
});

test('modelRows: latest version, aliases, newest change first', () => {
  const rows = modelRows([
    { name: 'old', last_updated_timestamp: 1 },
    {
      name: 'digits',
      description: 'MLP',
      last_updated_timestamp: 5,
      latest_versions: [{ name: 'digits', version: '2' }, { name: 'digits', version: '10' }],
      aliases: [{ alias: 'champion', version: '10' }],
    },
  ]);
  expect(rows).toEqual([
    { name: 'digits', description: 'MLP', latest: '10', aliases: ['champion → v10'], updated: 5 },
    { name: 'old', description: '', latest: '', aliases: [], updated: 1 },
  ]);
});

test('versionRows: newest first, aliases from the version and the model, stage None hidden', () => {
  const rows = versionRows(
    [
      { name: 'm', version: '1', current_stage: 'None', run_id: 'r1', aliases: ['old'] },
      { name: 'm', version: '2', current_stage: 'Production', run_id: 'r2', status: 'READY' },
    ],
    [{ alias: 'champion', version: '2' }],
  );
  expect(rows.map((r) => [r.version, r.aliases, r.stage, r.runId])).toEqual([
    ['2', ['champion'], 'Production', 'r2'],
    ['1', ['old'], '', 'r1'],
  ]);
});
