import { useEffect, useRef, useState } from 'react';
import { ApiError, Conditional, enc, getJSON, query } from '../../api/client';
import type { Project, Run } from '../../api/types';

export interface RunList {
  runs: Run[];
  /** every matching run is loaded (not just the first page) */
  complete: boolean;
  loading: boolean;
  error?: ApiError;
  /** bumps whenever runs change */
  version: number;
}

const FIRST_PAGE = 300;
const PAGE = 2500;
const MAX_RUNS = 100_000;
const POLL_MS = 3000;

type RunsAnswer = { runs: Run[] };

/**
 * useRunList loads a project's runs that match a filter: a first page at
 * once (ordered as asked, so the table paints fast), then all of them in
 * pages. Afterwards it polls only what can change (running and queued runs,
 * and the newest ones) with ETags, and fetches a run that stopped being
 * active once, for its final state.
 */
export function useRunList(project: string, filter: string, orderBy: string | undefined): RunList {
  const store = useRef(new Map<string, Run>());
  const [state, setState] = useState<RunList>({ runs: [], complete: false, loading: true, version: 0 });
  // The order only shapes the first page; sorting after that is the table's.
  const order = useRef(orderBy);
  order.current = orderBy;

  useEffect(() => {
    const ctl = new AbortController();
    const { signal } = ctl;
    const runs = new Map<string, Run>();
    store.current = runs;
    let version = 0;
    let complete = false;
    const publish = (error?: ApiError) => {
      if (signal.aborted) return;
      version++;
      setState({ runs: [...runs.values()], complete, loading: !complete && !error, error, version });
    };
    const put = (list: Run[]) => list.forEach((r) => runs.set(r.id, r));
    const url = (p: Record<string, string | number | undefined>) => `/api/v1/runs${query({ project, filter, ...p })}`;
    setState({ runs: [], complete: false, loading: true, version: 0 });

    const loadAll = async () => {
      const first = await getJSON<RunsAnswer>(url({ limit: FIRST_PAGE, order_by: order.current }), signal);
      put(first.runs);
      if (first.runs.length < FIRST_PAGE) {
        complete = true;
        return publish();
      }
      publish();
      if (filter) {
        // A filtered search scans every run on the server: one request.
        put((await getJSON<RunsAnswer>(url({ limit: MAX_RUNS }), signal)).runs);
      } else {
        const projects = await getJSON<{ projects: Project[] }>('/api/v1/projects', signal);
        const total = projects.projects.find((p) => p.name === project)?.runs ?? 0;
        const pages = Math.max(1, Math.ceil(total / PAGE));
        let short = false;
        const fetchPage = async (i: number) => {
          const got = await getJSON<RunsAnswer>(url({ limit: PAGE, offset: i * PAGE }), signal);
          put(got.runs);
          if (got.runs.length < PAGE) short = true;
        };
        for (let i = 0; i < pages; i += 4) {
          await Promise.all(Array.from({ length: Math.min(4, pages - i) }, (_, j) => fetchPage(i + j)));
        }
        for (let i = pages; !short && i * PAGE < MAX_RUNS; i++) await fetchPage(i); // runs created meanwhile
      }
      complete = true;
      publish();
    };

    // ids in the last answer of the RUNNING and QUEUED polls
    const active = [new Set<string>(), new Set<string>()];
    const polls = [
      new Conditional<RunsAnswer>(url({ state: 'RUNNING', limit: MAX_RUNS })),
      new Conditional<RunsAnswer>(url({ state: 'QUEUED', limit: MAX_RUNS })),
      ...(filter ? [] : [new Conditional<RunsAnswer>(url({ limit: 20 }))]),
    ];
    let timer: ReturnType<typeof setTimeout> | undefined;
    const poll = async () => {
      try {
        const answers = await Promise.all(polls.map((p) => p.get(signal)));
        const left = new Set<string>();
        answers.slice(0, 2).forEach((a, k) => {
          if (!a) return; // 304: as before
          const ids = new Set(a.runs.map((r) => r.id));
          for (const id of active[k]) if (!ids.has(id)) left.add(id);
          active[k] = ids;
        });
        const ended = [...left].filter((id) => !active[0].has(id) && !active[1].has(id)).slice(0, 50);
        const finals = await Promise.all(ended.map((id) => getJSON<Run>(`/api/v1/runs/${enc(id)}`, signal).catch(() => undefined)));
        put(finals.filter((r): r is Run => !!r));
        let changed = finals.length > 0;
        for (const a of answers) {
          if (a) {
            put(a.runs);
            changed = true;
          }
        }
        if (changed) publish();
      } catch (e) {
        if (signal.aborted) return;
        publish(e instanceof ApiError ? e : undefined);
      }
      if (!signal.aborted) timer = setTimeout(poll, document.hidden ? POLL_MS * 5 : POLL_MS);
    };

    loadAll()
      .then(() => {
        for (const r of runs.values()) if (r.state === 'RUNNING' || r.state === 'QUEUED') active[r.state === 'RUNNING' ? 0 : 1].add(r.id);
        timer = setTimeout(poll, POLL_MS);
      })
      .catch((e) => {
        if (!signal.aborted) publish(e instanceof ApiError ? e : new ApiError(0, 'client', String(e)));
      });
    return () => {
      ctl.abort();
      clearTimeout(timer);
    };
  }, [project, filter]);

  return state;
}
