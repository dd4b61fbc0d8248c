import { useEffect, useState } from 'react';
import { ApiError, Conditional, query } from '../../api/client';
import { isTerminal, type Run } from '../../api/types';

export interface RunsById {
  runs: (Run | undefined)[];
  errors: (ApiError | undefined)[];
  loading: boolean;
}

type Batch = { runs: Run[]; missing: string[] };
const CHUNK = 200;

/**
 * useRuns fetches the runs with these ids in one request
 * (GET /api/v1/batch/runs), then polls those still active every 3 s with an
 * ETag, so their charts follow them.
 */
export function useRuns(ids: string[]): RunsById {
  const key = ids.join(',');
  const [state, setState] = useState<RunsById>({ runs: [], errors: [], loading: ids.length > 0 });
  useEffect(() => {
    const ctl = new AbortController();
    const runs = new Map<string, Run>();
    const missing = new Set<string>();
    let failed: ApiError | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let poll: { ids: string; cond: Conditional<Batch>[] } | undefined;
    const batches = (want: string[]) => {
      const out: Conditional<Batch>[] = [];
      for (let i = 0; i < want.length; i += CHUNK) out.push(new Conditional<Batch>(`/api/v1/batch/runs${query({ id: want.slice(i, i + CHUNK) })}`));
      return out;
    };
    const publish = () =>
      setState({
        runs: ids.map((id) => runs.get(id)),
        errors: ids.map((id) => (missing.has(id) ? new ApiError(404, 'not_found', `run ${id} not found`) : runs.has(id) ? undefined : failed)),
        loading: false,
      });
    const round = async (conds: Conditional<Batch>[]) => {
      let changed = false;
      try {
        for (const got of await Promise.all(conds.map((c) => c.get(ctl.signal)))) {
          if (!got) continue;
          got.runs.forEach((r) => runs.set(r.id, r));
          got.missing.forEach((id) => missing.add(id));
          changed = true;
        }
        failed = undefined;
      } catch (e) {
        if (ctl.signal.aborted) return;
        failed = e instanceof ApiError ? e : new ApiError(0, 'client', String(e));
        changed = true;
      }
      if (ctl.signal.aborted) return;
      if (changed) publish();
      const active = ids.filter((id) => runs.has(id) && !isTerminal(runs.get(id)!.state));
      if (active.length === 0) return;
      if (poll?.ids !== active.join(',')) poll = { ids: active.join(','), cond: batches(active) };
      const next = poll.cond;
      timer = setTimeout(() => void round(next), document.hidden ? 15_000 : 3000);
    };
    setState({ runs: [], errors: [], loading: ids.length > 0 });
    if (ids.length) void round(batches(ids));
    return () => {
      ctl.abort();
      clearTimeout(timer);
    };
    // key is ids, joined
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return state;
}
