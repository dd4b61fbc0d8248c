import { useCallback, useEffect, useRef, useState } from 'react';
import { ApiError, Conditional } from './client';

export interface Polled<T> {
  data: T | undefined;
  error: ApiError | undefined;
  loading: boolean;
  /** reload asks again now (after a change the user made). */
  reload: () => void;
}

/**
 * usePoll GETs url now and then every intervalMs (0: once), with
 * If-None-Match, so an unchanged answer costs a 304 and no re-render. It
 * pauses while the tab is hidden and keeps the last data through errors.
 */
export function usePoll<T>(url: string | null, intervalMs: number): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<ApiError>();
  const [loading, setLoading] = useState(url !== null);
  const kick = useRef<() => void>(() => {});
  const every = useRef(intervalMs);
  every.current = intervalMs;

  useEffect(() => {
    setData(undefined);
    setError(undefined);
    if (url === null) {
      setLoading(false);
      return;
    }
    setLoading(true);
    const cond = new Conditional<T>(url);
    const ctl = new AbortController();
    let timer: ReturnType<typeof setTimeout> | undefined;
    let busy = false;
    let stopped = false;

    const tick = async () => {
      if (busy || stopped) return;
      clearTimeout(timer);
      busy = true;
      try {
        const got = await cond.get(ctl.signal);
        if (stopped) return;
        if (got !== undefined) setData(got);
        setError(undefined);
      } catch (e) {
        if (stopped || (e as Error).name === 'AbortError') return;
        setError(e instanceof ApiError ? e : new ApiError(0, 'client', String(e)));
      } finally {
        busy = false;
        if (!stopped) {
          setLoading(false);
          if (every.current > 0 && !document.hidden) timer = setTimeout(tick, every.current);
        }
      }
    };
    const onVisible = () => {
      if (!document.hidden) void tick();
    };
    kick.current = () => void tick();
    void tick();
    document.addEventListener('visibilitychange', onVisible);
    return () => {
      stopped = true;
      clearTimeout(timer);
      ctl.abort();
      document.removeEventListener('visibilitychange', onVisible);
    };
  }, [url]);

  // A poller that was stopped (intervalMs 0) and is asked to go on starts now.
  useEffect(() => {
    if (intervalMs > 0) kick.current();
  }, [intervalMs]);

  const reload = useCallback(() => kick.current(), []);
  return { data, error, loading, reload };
}
