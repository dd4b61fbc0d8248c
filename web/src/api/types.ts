// Names for the generated API types (schema.ts, from http/openapi.yaml).
import type { components } from './schema';

type S = components['schemas'];
export type Run = S['Run'];
export type RunState = S['State'];
export type MetricSummary = S['MetricSummary'];
export type Series = S['Series'];
export type Job = S['Job'];
export type Machine = S['Machine'];
export type GPU = S['GPU'];
export type Project = S['Project'];
export type ArtifactInfo = S['ArtifactInfo'];
export type ApiFloat = S['Float'];
export type ApiErrorBody = S['Error'];

export const TERMINAL_STATES: readonly RunState[] = ['SUCCEEDED', 'FAILED', 'CANCELED'];

export function isTerminal(s: RunState): boolean {
  return TERMINAL_STATES.includes(s);
}

/** toNumber reads the API's float encoding: a number, or "NaN", "Infinity", "-Infinity". */
export function toNumber(v: ApiFloat | undefined | null): number {
  if (typeof v === 'number') return v;
  if (v === 'Infinity') return Infinity;
  if (v === '-Infinity') return -Infinity;
  return NaN;
}
export type Sweep = S['Sweep'];
export type Trial = S['Trial'];
