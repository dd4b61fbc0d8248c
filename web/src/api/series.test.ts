import { afterEach, expect, test, vi } from 'vitest';
import { fetchSeriesBatch } from './series';

afterEach(() => vi.unstubAllGlobals());

test('a batch for a chart by step asks for no timestamps; for a time axis, for all', async () => {
  const urls: string[] = [];
  vi.stubGlobal(
    'fetch',
    vi.fn(async (url: string) => {
      urls.push(url);
      const q = new URL(url, 'http://x').searchParams;
      const times = q.get('fields') === null;
      const series = q.getAll('run').map((id) => ({ run_id: id, key: 'loss', total: 2, downsampled: false, steps: [0, 1], values: [1, 'NaN'], ...(times ? { timestamps: [5, 6] } : {}) }));
      return new Response(JSON.stringify({ series }), { status: 200, headers: { 'Content-Type': 'application/json' } });
    }),
  );
  const byStep = await fetchSeriesBatch(['a', 'b'], 'loss', { maxPoints: 700 });
  expect(new URL(urls[0], 'http://x').searchParams.get('fields')).toBe('steps,values,min,max');
  expect(byStep.map((r) => [r.runId, r.data?.steps, r.data?.times])).toEqual([
    ['a', [0, 1], []],
    ['b', [0, 1], []],
  ]);
  expect(byStep[0].data?.values[1]).toBeNaN();
  const byTime = await fetchSeriesBatch(['a'], 'loss', { maxPoints: 700, needTimes: true });
  expect(new URL(urls[1], 'http://x').searchParams.has('fields')).toBe(false);
  expect(byTime[0].data?.times).toEqual([5, 6]);
});
