import { useEffect, useState } from 'react';
import { ApiError } from '../../api/client';
import type { Registry } from '../../api/mlflow';

export interface RegistryState<T> {
  data?: Registry<T>;
  error?: ApiError;
  loading: boolean;
}

/** useRegistry runs a registry search once per key. */
export function useRegistry<T>(key: string, load: (signal: AbortSignal) => Promise<Registry<T>>): RegistryState<T> {
  const [state, setState] = useState<RegistryState<T>>({ loading: true });
  useEffect(() => {
    const ctl = new AbortController();
    setState({ loading: true });
    load(ctl.signal).then(
      (data) => !ctl.signal.aborted && setState({ data, loading: false }),
      (e) => !ctl.signal.aborted && setState({ error: e instanceof ApiError ? e : new ApiError(0, 'client', String(e)), loading: false }),
    );
    return () => ctl.abort();
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key]);
  return state;
}
