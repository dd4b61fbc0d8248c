// Fetching metric series, downsampled by the server to the chart's width.
import { enc, getJSON, keyPath, query } from './client';
import type { Series } from './types';
import { fromApi, type SeriesData } from '../lib/series';

export interface SeriesRequest {
  maxPoints: number;
  startStep?: number;
  endStep?: number;
}

export async function fetchSeries(runId: string, key: string, req: SeriesRequest, signal?: AbortSignal): Promise<SeriesData> {
  const q = query({ max_points: req.maxPoints, start_step: req.startStep, end_step: req.endStep });
  const s = await getJSON<Series>(`/api/v1/runs/${enc(runId)}/metrics/${keyPath(key)}${q}`, signal);
  return fromApi(s);
}
