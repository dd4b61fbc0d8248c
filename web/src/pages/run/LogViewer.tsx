import { useEffect, useMemo, useState, type KeyboardEvent } from 'react';
import { API, enc } from '../../api/client';
import type { Run } from '../../api/types';
import { isTerminal } from '../../api/types';
import { DownloadLink } from '../../components/DownloadLink';
import { VirtualRows } from '../../components/VirtualRows';
import { Empty } from '../../components/States';
import { findMatches, highlight } from '../../lib/logText';
import { fmtBytes } from '../../lib/format';
import { useQueryParam } from '../../router';
import { useLogStream } from './useLogStream';

const LINE = 18;

/**
 * LogViewer shows a run's output as it is written: Follow keeps the newest
 * line in view (scrolling up stops it), and search (logq= in the URL)
 * highlights matches, steps through them with Enter, or shows only them.
 */
export function LogViewer({ run }: { run: Run }) {
  const log = useLogStream(run.id, !isTerminal(run.state));
  const [q, setQ] = useQueryParam('logq');
  const [only, setOnly] = useState(false);
  const [follow, setFollow] = useState(true);
  const [at, setAt] = useState(0);
  const all = useMemo(() => (log.partial ? [...log.lines, log.partial] : log.lines), [log.version]); // eslint-disable-line react-hooks/exhaustive-deps
  const matches = useMemo(() => findMatches(all, q), [all, q]);
  const shown = only && q ? matches.map((i) => all[i]) : all;
  const current = matches.length ? matches[Math.min(at, matches.length - 1)] : -1;
  useEffect(() => setAt(0), [q]);

  const step = (d: number) => {
    if (!matches.length) return;
    setFollow(false);
    setAt((a) => (a + d + matches.length) % matches.length);
  };
  const onKey = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter') {
      e.preventDefault();
      step(e.shiftKey ? -1 : 1);
    }
  };

  return (
    <div className="logs">
      <div className="log-toolbar" role="group" aria-label="Log options">
        <input type="search" placeholder="Search the log…" value={q} onChange={(e) => setQ(e.target.value || null)} onKeyDown={onKey} aria-label="Search the log" />
        <span className="muted small" aria-live="polite">
          {q ? `${matches.length ? Math.min(at, matches.length - 1) + 1 : 0} of ${matches.length}` : `${all.length.toLocaleString('en-US')} lines`}
        </span>
        <button type="button" onClick={() => step(-1)} disabled={!matches.length} aria-label="Previous match">↑</button>
        <button type="button" onClick={() => step(1)} disabled={!matches.length} aria-label="Next match">↓</button>
        <label>
          <input type="checkbox" checked={only} onChange={(e) => setOnly(e.target.checked)} /> Only matching lines
        </label>
        <button type="button" aria-pressed={follow} onClick={() => setFollow(!follow)} title="Keep the newest line in view">
          {follow ? 'Following' : 'Follow'}
        </button>
        <span className={log.live ? 'live-dot on' : 'live-dot'} aria-label={log.live ? 'streaming' : 'not streaming'} />
        <DownloadLink href={`${API}/runs/${enc(run.id)}/logs`} filename={`${run.name}.log`}>
          Download
        </DownloadLink>
      </div>
      {log.skipped > 0 && <p className="muted small">The first {fmtBytes(log.skipped)} are not shown; download the log for all of it.</p>}
      {log.error && <p className="error small" role="alert">{log.error.message}</p>}
      {all.length === 0 ? (
        <Empty title={isTerminal(run.state) ? 'This run wrote no output' : 'No output yet'}>
          <p className="muted">{isTerminal(run.state) ? 'Nothing was printed to stdout or stderr.' : 'Lines appear here as the run prints them.'}</p>
        </Empty>
      ) : (
        <VirtualRows
          className="log-lines mono"
          label="Log"
          count={shown.length}
          rowHeight={LINE}
          stickToBottom={follow && !q}
          onAtBottom={(bottom) => !bottom && follow && setFollow(false)}
          scrollToIndex={!only && current >= 0 && !follow ? current : undefined}
          renderRow={(i, slot) => {
            const idx = only && q ? matches[i] : i;
            return (
              <div key={slot} className={idx === current ? 'log-line current' : 'log-line'}>
                <span className="log-no" aria-hidden="true">{idx + 1}</span>
                <span className="log-text">
                  {highlight(shown[i], q).map((part, j) => (j % 2 ? <mark key={j}>{part}</mark> : part))}
                </span>
              </div>
            );
          }}
        />
      )}
    </div>
  );
}
