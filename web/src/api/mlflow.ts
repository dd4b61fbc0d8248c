// The model registry through MLflow's REST API (its JSON shapes), which
// trainyard serves under /api/2.0/mlflow when it has a registry. A 404
// there means this server has none.
import { ApiError, getJSON, query } from './client';

export interface MlflowTag {
  key: string;
  value: string;
}

export interface MlflowModelVersion {
  name: string;
  version: string;
  creation_timestamp?: number;
  last_updated_timestamp?: number;
  current_stage?: string;
  description?: string;
  source?: string;
  run_id?: string;
  status?: string;
  tags?: MlflowTag[];
  aliases?: string[];
}

export interface MlflowRegisteredModel {
  name: string;
  creation_timestamp?: number;
  last_updated_timestamp?: number;
  description?: string;
  latest_versions?: MlflowModelVersion[];
  tags?: MlflowTag[];
  aliases?: { alias: string; version: string }[];
}

const BASE = '/api/2.0/mlflow';

/** Registry answers undefined data with available=false when the server has no registry. */
export interface Registry<T> {
  available: boolean;
  items: T[];
}

async function paged<T>(path: string, field: string, params: Record<string, string>, signal?: AbortSignal): Promise<Registry<T>> {
  const items: T[] = [];
  let token = '';
  try {
    for (let page = 0; page < 20; page++) {
      const got = await getJSON<Record<string, unknown>>(`${BASE}/${path}${query({ ...params, max_results: '1000', page_token: token })}`, signal);
      items.push(...((got[field] as T[] | undefined) ?? []));
      token = (got.next_page_token as string | undefined) ?? '';
      if (!token) break;
    }
  } catch (e) {
    if (e instanceof ApiError && (e.status === 404 || e.status === 501)) return { available: false, items: [] };
    throw e;
  }
  return { available: true, items };
}

export function searchModels(signal?: AbortSignal): Promise<Registry<MlflowRegisteredModel>> {
  return paged<MlflowRegisteredModel>('registered-models/search', 'registered_models', {}, signal);
}

const quote = (s: string) => `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;

export function searchVersions(name: string, signal?: AbortSignal): Promise<Registry<MlflowModelVersion>> {
  return paged<MlflowModelVersion>('model-versions/search', 'model_versions', { filter: `name=${quote(name)}` }, signal);
}

export interface ModelRow {
  name: string;
  description: string;
  latest: string;
  aliases: string[];
  updated?: number;
}

/** modelRows shapes registered models for the list, newest change first. */
export function modelRows(models: MlflowRegisteredModel[]): ModelRow[] {
  return models
    .map((m) => ({
      name: m.name,
      description: m.description ?? '',
      latest: (m.latest_versions ?? []).map((v) => v.version).sort(byVersionDesc)[0] ?? '',
      aliases: (m.aliases ?? []).map((a) => `${a.alias} → v${a.version}`).sort(),
      updated: m.last_updated_timestamp ?? m.creation_timestamp,
    }))
    .sort((a, b) => (b.updated ?? 0) - (a.updated ?? 0) || a.name.localeCompare(b.name));
}

export interface VersionRow {
  version: string;
  aliases: string[];
  stage: string;
  status: string;
  runId: string;
  source: string;
  created?: number;
  description: string;
}

/** versionRows shapes a model's versions, newest first, with aliases from either side of the API. */
export function versionRows(versions: MlflowModelVersion[], modelAliases: { alias: string; version: string }[] = []): VersionRow[] {
  return versions
    .map((v) => ({
      version: v.version,
      aliases: [...new Set([...(v.aliases ?? []), ...modelAliases.filter((a) => a.version === v.version).map((a) => a.alias)])].sort(),
      stage: v.current_stage && v.current_stage !== 'None' ? v.current_stage : '',
      status: v.status ?? '',
      runId: v.run_id ?? '',
      source: v.source ?? '',
      created: v.creation_timestamp,
      description: v.description ?? '',
    }))
    .sort((a, b) => byVersionDesc(a.version, b.version));
}

function byVersionDesc(a: string, b: string): number {
  const na = Number(a), nb = Number(b);
  if (!Number.isNaN(na) && !Number.isNaN(nb)) return nb - na;
  return b.localeCompare(a);
}
