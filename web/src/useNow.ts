import { useEffect, useState } from 'react';

/** useNow is the time, refreshed every ms milliseconds (0: never), for "running for 3m" texts. */
export function useNow(ms: number): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (ms <= 0) return;
    const t = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(t);
  }, [ms]);
  return now;
}
