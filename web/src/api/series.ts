// Fetching metric series, downsampled by the server to the chart's width.
import { enc, getJSON, keyPath, query } from './client';
import type { components } from './schema';
import type { Series } from './types';
import { fromApi, type SeriesData } from '../lib/series';

export interface SeriesRequest {
  maxPoints: number;
  startStep?: number;
  endStep?: number;
  /**
   * whether the chart's x axis is a time (wall or relative): without it a
   * batch leaves the timestamps out, nearly half of its answer
   */
  needTimes?: boolean;
}

/** The arrays a batch answer carries: no timestamps for a chart by step. */
export const batchFields = (needTimes: boolean | undefined) => (needTimes ? undefined : 'steps,values,min,max');

export async function fetchSeries(runId: string, key: string, req: SeriesRequest, signal?: AbortSignal): Promise<SeriesData> {
  const q = query({ max_points: req.maxPoints, start_step: req.startStep, end_step: req.endStep });
  const s = await getJSON<Series>(`/api/v1/runs/${enc(runId)}/metrics/${keyPath(key)}${q}`, signal);
  return fromApi(s);
}

type BatchSeries = components['schemas']['BatchSeries'];

/** One run's answer in a batch: its series, or the error that says why it has none. */
export type BatchResult = { runId: string; data?: SeriesData; error?: string };

const BATCH = 200;

/**
 * fetchSeriesBatch reads one metric of many runs in one request per 200
 * runs (GET /api/v1/batch/series), in the order given.
 */
export async function fetchSeriesBatch(runIds: string[], key: string, req: SeriesRequest, signal?: AbortSignal): Promise<BatchResult[]> {
  const out: BatchResult[] = [];
  for (let i = 0; i < runIds.length; i += BATCH) {
    const q = query({ key, run: runIds.slice(i, i + BATCH), max_points: req.maxPoints, start_step: req.startStep, end_step: req.endStep, fields: batchFields(req.needTimes) });
    const got = await getJSON<{ series: BatchSeries[] }>(`/api/v1/batch/series${q}`, signal);
    for (const s of got.series) {
      out.push(
        s.error
          ? { runId: s.run_id, error: s.error.message }
          : { runId: s.run_id, data: fromApi({ key: s.key, total: s.total ?? 0, downsampled: !!s.downsampled, steps: s.steps ?? [], values: s.values ?? [], timestamps: s.timestamps ?? [], min: s.min, max: s.max }) },
      );
    }
  }
  return out;
}
