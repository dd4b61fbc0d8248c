import { useEffect, useMemo } from 'react';
import { availableKeys, defaultColumns, orderBy, parseColumn, sortRuns, type Column } from '../../lib/columns';
import { navigate, useLocation, withQuery, Link } from '../../router';
import { Empty, Failed } from '../../components/States';
import { ColumnPicker } from './ColumnPicker';
import { FilterBox } from './FilterBox';
import { MAX_SELECT, RunsTable } from './RunsTable';
import { useRunList } from './useRunList';

const DEFAULT_SORT = '-a:created';
let tablePainted = false;

/**
 * RunsPage is a project's runs: filter (q=), columns (col=, repeated),
 * sort (sort=, "-" for descending) and selection (sel=) live in the URL.
 */
export function RunsPage({ project }: { project: string }) {
  const { path, query } = useLocation();
  const filter = query.get('q') ?? '';
  const sortParam = query.get('sort') || DEFAULT_SORT;
  const sort = { id: sortParam.replace(/^-/, ''), desc: sortParam.startsWith('-') };
  const sortCol = sort.id === 'name' ? parseColumn('a:name') : parseColumn(sort.id);
  // The server lists newest first by itself; any other order costs it a scan of every run.
  const list = useRunList(project, filter, sortParam === DEFAULT_SORT ? undefined : orderBy(sortCol, sort.desc));
  const chosen = query.getAll('col');
  // Chosen from the first page, so the columns do not jump as more runs load.
  const defaults = useMemo(() => defaultColumns(list.runs), [list.runs.length > 0]); // eslint-disable-line react-hooks/exhaustive-deps
  const colIds = chosen.length ? chosen : defaults;
  const columns = colIds.map(parseColumn).filter((c): c is Column => c !== null);
  const selected = useMemo(() => new Set((query.get('sel') ?? '').split(',').filter(Boolean)), [query.get('sel')]);
  // eslint-disable-next-line react-hooks/exhaustive-deps
  const sorted = useMemo(() => sortRuns(list.runs, sortCol, sort.desc), [list.version, sortParam]);
  const keys = useMemo(() => availableKeys(list.runs), [list.complete, list.runs.length > 0]);

  useEffect(() => {
    if (sorted.length > 0 && !tablePainted) {
      tablePainted = true;
      requestAnimationFrame(() => performance.mark('trainyard:runs-table-painted'));
    }
  }, [sorted.length]);

  const set = (changes: Record<string, string | null>) => navigate(withQuery(path, query, changes), { replace: true });
  const setColumns = (ids: string[]) => {
    const q = new URLSearchParams(query);
    q.delete('col');
    ids.forEach((id) => q.append('col', id));
    navigate(`${path}?${q}`, { replace: true });
  };
  const onSort = (id: string) => {
    const col = id === 'a:name' ? 'a:name' : id;
    const next = sort.id === col ? (sort.desc ? col : `-${col}`) : col === 'a:created' ? `-${col}` : col;
    set({ sort: next === DEFAULT_SORT ? null : next });
  };
  const onSelect = (ids: string[], on: boolean) => {
    const next = new Set(selected);
    ids.forEach((id) => (on ? next.add(id) : next.delete(id)));
    set({ sel: [...next].slice(0, MAX_SELECT).join(',') || null });
  };
  const filterError = list.error?.field === 'filter' ? list.error.message : undefined;

  return (
    <div className="page runs-page">
      <div className="page-head">
        <h1>
          <Link to="/">Projects</Link> / {project}
        </h1>
        <span className="muted" role="status" aria-live="polite" data-testid="run-count">
          {list.loading && list.runs.length === 0 ? 'Loading runs…' : `${list.runs.length.toLocaleString('en-US')} runs${list.complete ? '' : ' (loading all…)'}`}
        </span>
      </div>
      <FilterBox value={filter} onApply={(q) => set({ q: q || null })} error={filterError} />
      <div className="toolbar">
        <ColumnPicker keys={keys} chosen={colIds} onChange={setColumns} onReset={() => setColumns([])} />
        <button
          type="button"
          className="primary"
          disabled={selected.size < 1}
          onClick={() => navigate(`/compare?runs=${[...selected].join(',')}`)}
          title={selected.size < 1 ? 'Select runs with the checkboxes to compare them' : undefined}
        >
          Compare {selected.size > 0 ? `${selected.size} run${selected.size > 1 ? 's' : ''}` : 'runs'}
        </button>
        {selected.size > 0 && (
          <button type="button" onClick={() => set({ sel: null })}>
            Clear selection
          </button>
        )}
      </div>
      {list.error && !filterError && list.runs.length === 0 ? (
        <Failed error={list.error} what="runs" />
      ) : list.complete && list.runs.length === 0 ? (
        filter ? (
          <Empty title="No runs match this filter">
            <p>
              Loosen the filter or <button className="link-button" onClick={() => set({ q: null })}>clear it</button>.
            </p>
          </Empty>
        ) : (
          <Empty title={`No runs in ${project} yet`}>
            <p>
              Start one with <code>trainyard run --project {project} -- python train.py</code>, or log from Python with{' '}
              <code>trainyard.init(project="{project}")</code>.
            </p>
          </Empty>
        )
      ) : (
        <RunsTable runs={sorted} columns={columns} sort={{ id: sortCol?.id ?? sort.id, desc: sort.desc }} onSort={onSort} selected={selected} onSelect={onSelect} />
      )}
    </div>
  );
}
