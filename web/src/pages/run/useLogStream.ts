import { useEffect, useRef, useState } from 'react';
import { API, ApiError, apiFetch, enc } from '../../api/client';
import { cleanLine, splitLines } from '../../lib/logText';

export interface LogStream {
  lines: string[];
  /** the last line, while it has no newline yet (a progress bar) */
  partial: string;
  /** bumps when lines change (the array is appended in place) */
  version: number;
  /** the stream is open and following */
  live: boolean;
  /** bytes at the start that were skipped because the log is long */
  skipped: number;
  error?: ApiError;
}

/** The most of a log kept in the page; longer logs show their end. */
export const MAX_LOG_BYTES = 4 << 20;
const MAX_LINES = 200_000;

/**
 * useLogStream reads a run's log and, while the run is active, follows it
 * (the server streams until the run ends); a dropped stream is resumed from
 * the byte it reached. Lines land at most ten times a second.
 */
export function useLogStream(runId: string, active: boolean): LogStream {
  const [state, setState] = useState<LogStream>({ lines: [], partial: '', version: 0, live: false, skipped: 0 });
  const activeRef = useRef(active);
  activeRef.current = active;

  useEffect(() => {
    const ctl = new AbortController();
    const lines: string[] = [];
    let rest = '', offset = 0, skipped = 0, version = 0, live = false;
    let error: ApiError | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let flushTimer: ReturnType<typeof setTimeout> | undefined;
    const flush = () => {
      flushTimer = undefined;
      if (!ctl.signal.aborted) setState({ lines, partial: cleanLine(rest), version: ++version, live, skipped, error });
    };
    const soon = () => {
      flushTimer ??= setTimeout(flush, 100);
    };
    const add = (text: string) => {
      const got = splitLines(rest + text);
      rest = got.rest;
      for (const l of got.lines) lines.push(l);
      if (lines.length > MAX_LINES) lines.splice(0, lines.length - MAX_LINES);
      soon();
    };

    const read = async () => {
      const follow = activeRef.current;
      const url = `${API}/runs/${enc(runId)}/logs?offset=${offset}${follow ? '&follow=true' : ''}`;
      const res = await apiFetch(url, { signal: ctl.signal, cache: 'no-store' });
      const size = Number(res.headers.get('X-Trainyard-Log-Size') ?? 0);
      if (offset === 0 && size > MAX_LOG_BYTES) {
        // Too long to show whole: start near the end, at a line boundary.
        await res.body?.cancel();
        offset = skipped = size - MAX_LOG_BYTES;
        rest = '';
        const res2 = await apiFetch(`${API}/runs/${enc(runId)}/logs?offset=${offset}${follow ? '&follow=true' : ''}`, { signal: ctl.signal, cache: 'no-store' });
        return pump(res2, true);
      }
      return pump(res, false);
    };
    const pump = async (res: Response, dropFirstLine: boolean) => {
      const reader = res.body!.getReader();
      const dec = new TextDecoder();
      live = activeRef.current;
      error = undefined;
      soon();
      let first = dropFirstLine;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        offset += value.byteLength;
        let text = dec.decode(value, { stream: true });
        if (first) {
          const nl = text.indexOf('\n');
          if (nl < 0) continue;
          text = text.slice(nl + 1);
          first = false;
        }
        add(text);
      }
      add(dec.decode());
    };
    const loop = async () => {
      try {
        await read();
        live = false;
        flush();
        if (activeRef.current && !ctl.signal.aborted) timer = setTimeout(loop, 1000); // still running: the stream dropped
      } catch (e) {
        if (ctl.signal.aborted) return;
        error = e instanceof ApiError ? e : new ApiError(0, 'network', 'The log stream broke; retrying…');
        live = false;
        flush();
        timer = setTimeout(loop, 3000);
      }
    };
    void loop();
    return () => {
      ctl.abort();
      clearTimeout(timer);
      clearTimeout(flushTimer);
    };
  }, [runId]);

  return state;
}
