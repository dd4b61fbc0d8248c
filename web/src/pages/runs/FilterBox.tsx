import { useEffect, useState, type FormEvent } from 'react';

interface Props {
  value: string;
  onApply: (filter: string) => void;
  error?: string;
}

const EXAMPLES = [
  "metrics.loss < 0.5",
  "params.lr = '0.01' AND tags.team LIKE 'vis%'",
  "attributes.state IN ('RUNNING', 'QUEUED')",
  "name ILIKE '%bert%'",
  'metrics.`val/acc` >= 0.9',
];

/** FilterBox edits the run search, in the API's grammar (MLflow's); it applies on Enter. */
export function FilterBox({ value, onApply, error }: Props) {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    onApply(draft.trim());
  };
  return (
    <form className="filter" onSubmit={submit} role="search">
      <label htmlFor="run-filter" className="visually-hidden">
        Filter runs
      </label>
      <input
        id="run-filter"
        type="search"
        className="mono"
        placeholder="Filter: metrics.loss < 0.5 AND params.lr = '0.01'   (Enter to apply)"
        value={draft}
        onChange={(e) => setDraft(e.target.value)}
        aria-invalid={!!error}
        aria-describedby={error ? 'run-filter-error' : undefined}
        spellCheck={false}
      />
      <button type="submit">Apply</button>
      {value && (
        <button type="button" onClick={() => onApply('')}>
          Clear
        </button>
      )}
      <details className="filter-help">
        <summary>Syntax</summary>
        <p className="small">
          Clauses joined by <code>AND</code> over <code>metrics.K</code> (latest value; = != &lt; &lt;= &gt; &gt;=), <code>params.K</code>, <code>tags.K</code>{' '}
          and attributes (<code>name</code>, <code>state</code>, <code>created</code>, …; = != LIKE ILIKE IN NOT IN). Quote keys with slashes in backticks.
        </p>
        <ul className="small mono">
          {EXAMPLES.map((x) => (
            <li key={x}>
              <button type="button" className="link-button" onClick={() => onApply(x)}>
                {x}
              </button>
            </li>
          ))}
        </ul>
      </details>
      {error && (
        <p id="run-filter-error" className="error small" role="alert">
          {error}
        </p>
      )}
    </form>
  );
}
