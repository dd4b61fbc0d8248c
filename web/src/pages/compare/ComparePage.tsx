import { useDeferredValue, useMemo, useState } from 'react';
import type { Run } from '../../api/types';
import { ChartControls, useChartView } from '../../components/chart/ChartControls';
import { SeriesChart, type ChartLine } from '../../components/chart/SeriesChart';
import { Empty, Loading, StateBadge } from '../../components/States';
import { seriesColor } from '../../lib/colors';
import { isSystemMetric } from '../../lib/columns';
import { Link, navigate, useLocation, withQuery } from '../../router';
import { groupByPrefix } from '../run/metricGroups';
import { lineOf } from '../run/runLines';
import { ParamsDiff } from './ParamsDiff';
import { useRuns } from './useRuns';

/**
 * ComparePage overlays the metrics of the runs in runs= (comma-separated
 * ids), one chart per metric, and diffs their params.
 */
export function ComparePage() {
  const { path, query } = useLocation();
  const ids = useMemo(() => (query.get('runs') ?? '').split(',').filter(Boolean), [query.get('runs')]); // eslint-disable-line react-hooks/exhaustive-deps
  const { runs, errors, loading } = useRuns(ids);
  const [view, setView] = useChartView();
  const [find, setFind] = useState('');
  const system = query.get('system') === '1';
  const loaded = runs.map((r, i) => (r ? { run: r, color: seriesColor(i) } : undefined)).filter((x): x is { run: Run; color: string } => !!x);
  // The params table waits for a quiet moment, so the charts' requests leave first.
  const diffRuns = useDeferredValue(loaded, []);
  const sig = loaded.map(({ run }) => `${run.id}:${Object.entries(run.metrics).map(([k, m]) => `${k}=${m.count}.${m.last_step}`).join(',')}`).join('|');
  const byKey = useMemo(() => {
    const names = new Map<string, number>();
    loaded.forEach(({ run }) => names.set(run.name, (names.get(run.name) ?? 0) + 1));
    const label = (r: Run) => ((names.get(r.name) ?? 0) > 1 ? `${r.name} (${r.id})` : r.name);
    const out = new Map<string, ChartLine[]>();
    ids.forEach((_, i) => {
      const run = runs[i];
      if (!run) return;
      for (const k of Object.keys(run.metrics)) {
        if (!out.has(k)) out.set(k, []);
        out.get(k)!.push(lineOf(run, k, label(run), i));
      }
    });
    return out;
  }, [sig]); // eslint-disable-line react-hooks/exhaustive-deps

  if (ids.length === 0) {
    return (
      <Empty title="Pick runs to compare">
        <p>
          Open a <Link to="/">project</Link>, tick the runs you want side by side, and press <strong>Compare</strong>.
        </p>
      </Empty>
    );
  }
  if (loading) return <Loading what={`${ids.length} runs`} />;
  const remove = (id: string) => navigate(withQuery(path, query, { runs: ids.filter((x) => x !== id).join(',') || null }));
  const keys = [...byKey.keys()].filter((k) => (system || !isSystemMetric(k)) && k.toLowerCase().includes(find.toLowerCase()));
  const failed = errors.map((e, i) => (e ? `${ids[i]}: ${e.message}` : '')).filter(Boolean);

  return (
    <div className="page compare-page">
      <div className="page-head">
        <h1>Compare {loaded.length} runs</h1>
      </div>
      {failed.length > 0 && (
        <p className="error" role="alert">
          Could not load {failed.length} run{failed.length > 1 ? 's' : ''}: {failed.slice(0, 3).join('; ')}
        </p>
      )}
      <ul className="run-chips" aria-label="Runs compared">
        {loaded.map(({ run, color }) => (
          <li key={run.id} className="chip">
            <span className="swatch" style={{ background: color }} />
            <Link to={`/runs/${encodeURIComponent(run.id)}`}>{run.name}</Link>
            <StateBadge state={run.state} />
            <button type="button" className="icon-button" onClick={() => remove(run.id)} aria-label={`Remove ${run.name} from the comparison`}>
              ×
            </button>
          </li>
        ))}
      </ul>
      <div className="chart-toolbar">
        <ChartControls view={view} onChange={setView} />
        <input type="search" placeholder="Find a metric…" value={find} onChange={(e) => setFind(e.target.value)} aria-label="Find a metric" />
        <label>
          <input type="checkbox" checked={system} onChange={(e) => navigate(withQuery(path, query, { system: e.target.checked ? '1' : null }), { replace: true })} /> System metrics
        </label>
      </div>
      {keys.length === 0 ? (
        <Empty title={byKey.size === 0 ? 'These runs have no metrics yet' : 'No metric matches'}>
          <p className="muted">{byKey.size === 0 ? 'Charts appear as the runs log metrics.' : 'Change the search above.'}</p>
        </Empty>
      ) : (
        groupByPrefix(keys).map(([group, ks]) => (
          <section key={group} className="chart-group" aria-label={group || 'Metrics'}>
            {group && <h2 className="group-title">{group}</h2>}
            <div className="chart-grid">
              {ks.map((k) => (
                <SeriesChart key={k} title={k} lines={byKey.get(k)!} view={view} height={260} />
              ))}
            </div>
          </section>
        ))
      )}
      {diffRuns.length > 0 && <ParamsDiff runs={diffRuns.map((l) => l.run)} colors={diffRuns.map((l) => l.color)} />}
    </div>
  );
}
