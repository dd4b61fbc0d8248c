import { useId, useState } from 'react';
import { ATTRIBUTES, metricColumnId, type Agg, type Keys } from '../../lib/columns';

interface Props {
  keys: Keys;
  chosen: string[];
  onChange: (ids: string[]) => void;
  onReset: () => void;
}

/** ColumnPicker chooses the table's columns: attributes, params, metrics (latest, min, max) and tags. */
export function ColumnPicker({ keys, chosen, onChange, onReset }: Props) {
  const [open, setOpen] = useState(false);
  const [find, setFind] = useState('');
  const panel = useId();
  const has = new Set(chosen);
  const toggle = (id: string, on: boolean) => onChange(on ? [...chosen, id] : chosen.filter((c) => c !== id));
  const match = (k: string) => k.toLowerCase().includes(find.toLowerCase());
  const box = (id: string, label: string) => (
    <label key={id} className="pick">
      <input type="checkbox" checked={has.has(id)} onChange={(e) => toggle(id, e.target.checked)} /> {label}
    </label>
  );

  return (
    <div className="picker">
      <button type="button" aria-expanded={open} aria-controls={panel} onClick={() => setOpen(!open)}>
        Columns ({chosen.length})
      </button>
      {open && (
        <div id={panel} className="picker-panel card" role="group" aria-label="Choose columns" onKeyDown={(e) => e.key === 'Escape' && setOpen(false)}>
          <div className="picker-top">
            <input type="search" placeholder="Find a key…" value={find} onChange={(e) => setFind(e.target.value)} aria-label="Find a column key" autoFocus />
            <button type="button" className="link-button" onClick={onReset}>
              Default columns
            </button>
            <button type="button" className="link-button" onClick={() => setOpen(false)}>
              Close
            </button>
          </div>
          <div className="picker-groups">
            <fieldset>
              <legend>Attributes</legend>
              {Object.entries(ATTRIBUTES)
                .filter(([k]) => k !== 'name' && match(k))
                .map(([k, label]) => box(`a:${k}`, label))}
            </fieldset>
            <fieldset>
              <legend>Params</legend>
              {keys.params.filter(match).map((k) => box(`p:${k}`, k))}
              {keys.params.length === 0 && <p className="muted small">No run has a config.</p>}
            </fieldset>
            <fieldset>
              <legend>Metrics (latest · min · max)</legend>
              {keys.metrics.filter(match).map((k) => (
                <div key={k} className="pick-metric">
                  <span className="truncate" title={k}>
                    {k}
                  </span>
                  {(['last', 'min', 'max'] as Agg[]).map((agg) => (
                    <input
                      key={agg}
                      type="checkbox"
                      checked={has.has(metricColumnId(k, agg))}
                      onChange={(e) => toggle(metricColumnId(k, agg), e.target.checked)}
                      aria-label={`${k} ${agg === 'last' ? 'latest' : agg}`}
                      title={agg === 'last' ? 'latest' : agg}
                    />
                  ))}
                </div>
              ))}
              {keys.metrics.length === 0 && <p className="muted small">No run has logged metrics.</p>}
            </fieldset>
            <fieldset>
              <legend>Tags</legend>
              {keys.tags.filter(match).map((k) => box(`t:${k}`, k))}
              {keys.tags.length === 0 && <p className="muted small">No run has tags.</p>}
            </fieldset>
          </div>
        </div>
      )}
    </div>
  );
}
