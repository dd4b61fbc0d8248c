import { useLayoutEffect, useRef, useState } from 'react';
import { ApiError } from './client';
import { fetchSeries, fetchSeriesBatch } from './series';
import { appendTail, planFetch, type FetchPlan, type SeriesData } from '../lib/series';

/** SeriesSource is one line of a chart: a run's metric, with the run's summary of it. */
export interface SeriesSource {
  runId: string;
  key: string;
  /** points the run has logged (its metric summary's count) */
  count: number;
  lastStep: number;
}

export interface SeriesState {
  data: (SeriesData | undefined)[];
  errors: (ApiError | undefined)[];
  /** every source has answered (with data or an error) at least once */
  ready: boolean;
}

/**
 * useSeriesData fetches each source downsampled to maxPoints (over a step
 * range when zoomed), and again only when the run's summary says the metric
 * changed: just the new points while the series fits the chart whole, the
 * downsampled series again otherwise. All answers land in one update, so a
 * chart draws once per change however many runs it shows. Without needTimes
 * (a chart by step) batch answers leave the timestamps out.
 */
export function useSeriesData(sources: SeriesSource[], maxPoints: number, range: [number, number] | null, enabled = true, needTimes = true): SeriesState {
  const cache = useRef(new Map<string, SeriesData>());
  const [state, setState] = useState<SeriesState>({ data: [], errors: [], ready: false });
  const sig = sources.map((s) => `${s.runId}\u0000${s.key}\u0000${s.count}\u0000${s.lastStep}`).join('\u0001');
  const shape = `${maxPoints}:${range ? range.join('-') : ''}:${needTimes ? 't' : ''}`;
  const latest = useRef(sources);
  latest.current = sources;

  // A layout effect, so the requests leave before the browser paints the page.
  useLayoutEffect(() => {
    if (!enabled || maxPoints <= 0) return;
    const srcs = latest.current;
    const ctl = new AbortController();
    const keyOf = (s: SeriesSource) => `${s.runId}\u0000${s.key}\u0000${shape}`;
    const planOf = (s: SeriesSource, have = cache.current.get(keyOf(s))): FetchPlan =>
      range ? (have ? { kind: 'none' } : { kind: 'full' }) : planFetch(have, s.count, s.lastStep, maxPoints);
    const one = async (s: SeriesSource): Promise<SeriesData> => {
      const have = cache.current.get(keyOf(s));
      const plan = planOf(s, have);
      if (plan.kind === 'none' && have) return have;
      if (plan.kind === 'tail' && have) {
        const tail = await fetchSeries(s.runId, s.key, { maxPoints, startStep: plan.startStep }, ctl.signal);
        const merged = tail.downsampled ? undefined : appendTail(have, tail);
        if (merged && merged.total >= s.count) return merged;
      }
      return fetchSeries(s.runId, s.key, { maxPoints, startStep: range?.[0], endStep: range?.[1] }, ctl.signal);
    };
    // Sources that need the whole series and share a key go in one batch
    // request (a compare chart of many runs); the rest one by one.
    const batched = new Map<number, Promise<SeriesData>>();
    const fulls = srcs
      .map((s, i) => ({ s, i }))
      .filter(({ s }) => planOf(s).kind === 'full');
    const byKey = new Map<string, typeof fulls>();
    for (const f of fulls) byKey.set(f.s.key, [...(byKey.get(f.s.key) ?? []), f]);
    for (const [key, group] of byKey) {
      if (group.length < 2) continue;
      const all = fetchSeriesBatch(group.map((g) => g.s.runId), key, { maxPoints, startStep: range?.[0], endStep: range?.[1], needTimes }, ctl.signal);
      group.forEach((g, j) =>
        batched.set(
          g.i,
          all.then((res) => {
            if (res[j]?.data) return res[j].data!;
            throw new ApiError(404, 'not_found', res[j]?.error ?? 'missing from the batch answer');
          }),
        ),
      );
    }
    void Promise.allSettled(srcs.map((s, i) => batched.get(i) ?? one(s))).then((results) => {
      if (ctl.signal.aborted) return;
      const next = new Map<string, SeriesData>();
      const data: (SeriesData | undefined)[] = [];
      const errors: (ApiError | undefined)[] = [];
      results.forEach((r, i) => {
        const k = keyOf(srcs[i]);
        if (r.status === 'fulfilled') {
          next.set(k, r.value);
          data.push(r.value);
          errors.push(undefined);
        } else {
          const old = cache.current.get(k);
          if (old) next.set(k, old);
          data.push(old);
          errors.push(r.reason instanceof ApiError ? r.reason : new ApiError(0, 'client', String(r.reason)));
        }
      });
      cache.current = next;
      setState({ data, errors, ready: true });
    });
    return () => ctl.abort();
    // sig and shape carry everything the fetch depends on.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [sig, shape, enabled]);

  return state;
}
