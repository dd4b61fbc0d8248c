import { memo, useState, type KeyboardEvent } from 'react';
import type { Run } from '../../api/types';
import { cellText, cellValue, type Column } from '../../lib/columns';
import { Link, navigate } from '../../router';
import { StateBadge } from '../../components/States';
import { VirtualRows } from '../../components/VirtualRows';

const ROW = 32;
export const MAX_SELECT = 100;

interface Props {
  runs: Run[];
  columns: Column[];
  sort: { id: string; desc: boolean };
  onSort: (id: string) => void;
  selected: Set<string>;
  onSelect: (ids: string[], on: boolean) => void;
}

/**
 * RunsTable is the virtualised runs table: sortable columns, a checkbox
 * per run for comparing, and keys (↑ ↓ to move, Space to select, Enter to
 * open) for people who do not use a mouse.
 */
export function RunsTable({ runs, columns, sort, onSort, selected, onSelect }: Props) {
  const [cursor, setCursor] = useState(-1);
  const template = `36px minmax(250px, 2fr) ${columns.map(width).join(' ')}`;
  const minWidth = 36 + 250 + columns.length * 140;
  const sample = runs.slice(0, 200);
  const numeric = new Set(columns.filter((c) => c.kind === 'metric' || (c.kind === 'param' && sample.every((r) => typeof cellValue(r, c) !== 'string'))).map((c) => c.id));
  const top = runs.slice(0, MAX_SELECT);
  const allTop = top.length > 0 && top.every((r) => selected.has(r.id));

  const onKey = (e: KeyboardEvent<HTMLDivElement>) => {
    const onControl = (e.target as HTMLElement).closest('a, button, input, select');
    if (onControl && e.key !== 'ArrowDown' && e.key !== 'ArrowUp') return;
    const move = (to: number) => {
      e.preventDefault();
      setCursor(Math.max(0, Math.min(runs.length - 1, to)));
    };
    if (e.key === 'ArrowDown') move(cursor + 1);
    else if (e.key === 'ArrowUp') move(cursor - 1);
    else if (e.key === 'PageDown') move(cursor + 20);
    else if (e.key === 'PageUp') move(cursor - 20);
    else if (e.key === 'Home' && e.ctrlKey) move(0);
    else if (e.key === 'End' && e.ctrlKey) move(runs.length - 1);
    else if (cursor >= 0 && cursor < runs.length && e.key === ' ') {
      e.preventDefault();
      const r = runs[cursor];
      onSelect([r.id], !selected.has(r.id));
    } else if (cursor >= 0 && cursor < runs.length && e.key === 'Enter') {
      navigate(`/runs/${encodeURIComponent(runs[cursor].id)}`);
    }
  };

  const header = (
    <div className="thead" role="row" style={{ gridTemplateColumns: template, minWidth }}>
      <div role="columnheader" className="cell">
        <input
          type="checkbox"
          checked={allTop}
          onChange={(e) => onSelect(top.map((r) => r.id), e.target.checked)}
          aria-label={`Select the first ${top.length} runs`}
          title={`Select the first ${top.length} runs (at most ${MAX_SELECT})`}
        />
      </div>
      {[{ id: 'a:name', label: 'Name', kind: 'attr' }, ...columns].map((c) => (
        <div key={c.id} role="columnheader" className={`cell ${numeric.has(c.id) ? 'num' : ''}`} aria-sort={sort.id === c.id ? (sort.desc ? 'descending' : 'ascending') : 'none'}>
          <button type="button" className="sort" onClick={() => onSort(c.id)} title={`Sort by ${c.label}`}>
            <span className="truncate">{c.label}</span>
            {sort.id === c.id && <span aria-hidden="true">{sort.desc ? ' ▼' : ' ▲'}</span>}
          </button>
        </div>
      ))}
    </div>
  );

  return (
    <div className="runs-table" role="table" aria-label="Runs" aria-rowcount={runs.length + 1} onKeyDown={onKey}>
      <VirtualRows
        height={`min(calc(100vh - 15rem), ${runs.length * ROW + 36}px)`}
        label="Runs table: arrow keys move, Space selects, Enter opens"
        count={runs.length}
        rowHeight={ROW}
        header={header}
        scrollToIndex={cursor}
        renderRow={(i, slot) => (
          <RunRow
            key={slot}
            run={runs[i]}
            index={i}
            columns={columns}
            numeric={numeric}
            template={template}
            minWidth={minWidth}
            selected={selected.has(runs[i].id)}
            current={i === cursor}
            onSelect={onSelect}
          />
        )}
      />
    </div>
  );
}

interface RowProps {
  run: Run;
  index: number;
  columns: Column[];
  numeric: Set<string>;
  template: string;
  minWidth: number;
  selected: boolean;
  current: boolean;
  onSelect: (ids: string[], on: boolean) => void;
}

const RunRow = memo(function RunRow({ run, index, columns, numeric, template, minWidth, selected, current, onSelect }: RowProps) {
  return (
    <div
      role="row"
      aria-rowindex={index + 2}
      aria-selected={selected}
      className={`trow${selected ? ' selected' : ''}${current ? ' current' : ''}`}
      style={{ gridTemplateColumns: template, minWidth }}
      data-run-id={run.id}
    >
      <div role="cell" className="cell">
        <input type="checkbox" checked={selected} onChange={(e) => onSelect([run.id], e.target.checked)} aria-label={`Select ${run.name}`} tabIndex={-1} />
      </div>
      <div role="cell" className="cell name">
        <Link to={`/runs/${encodeURIComponent(run.id)}`} title={run.name.length > NAME_CHARS ? run.name : undefined}>
          {fit(run.name, NAME_CHARS)}
        </Link>
      </div>
      {columns.map((c) => {
        if (c.kind === 'attr' && c.key === 'state') {
          return (
            <div key={c.id} role="cell" className="cell">
              <StateBadge state={run.state} />
            </div>
          );
        }
        const text = cellText(run, c);
        return (
          <div key={c.id} role="cell" className={`cell ${numeric.has(c.id) ? 'num' : ''}`} title={text.length > CELL_CHARS ? tip(text) : undefined}>
            {fit(text, c.kind === 'attr' && c.key === 'created' ? 19 : CELL_CHARS)}
          </div>
        );
      })}
    </div>
  );
});

function width(c: Column): string {
  if (c.kind === 'attr' && c.key === 'state') return '104px';
  if (c.kind === 'attr' && c.key === 'created') return '170px';
  if (c.kind === 'attr' && c.key === 'duration') return '96px';
  return 'minmax(130px, 1fr)';
}

// Characters that fit the name column and the others at their narrowest.
const NAME_CHARS = 28;
const CELL_CHARS = 14;

/** tip is a cell's tooltip: its whole text, up to 500 characters (the run's page shows the rest). */
function tip(text: string): string {
  return text.length > 500 ? `${text.slice(0, 500)}… (${text.length.toLocaleString('en-US')} characters: open the run to see all)` : text;
}

/** fit cuts text to n characters with an ellipsis. */
function fit(text: string, n: number): string {
  return text.length > n ? `${text.slice(0, n - 1)}…` : text;
}
