import type { Run } from '../../api/types';
import { paramsDiff } from '../../lib/diff';
import { useQueryParam } from '../../router';
import { LongValue } from '../../components/LongValue';

/** ParamsDiff lines the runs' configs up side by side; by default only the keys where they differ. */
export function ParamsDiff({ runs, colors }: { runs: Run[]; colors: string[] }) {
  const [mode, setMode] = useQueryParam('params', 'diff');
  const only = mode !== 'all';
  const rows = paramsDiff(runs, only);
  return (
    <section className="card params-diff" aria-label="Params">
      <div className="section-head">
        <h2>Params</h2>
        <label>
          <input type="checkbox" checked={only} onChange={(e) => setMode(e.target.checked ? 'diff' : 'all')} /> Only differences
        </label>
      </div>
      {rows.length === 0 ? (
        <p className="muted">{only ? 'These runs have the same params.' : 'These runs have no params.'}</p>
      ) : (
        <div className="table-scroll">
          <table className="table diff">
            <thead>
              <tr>
                <th scope="col">Param</th>
                {runs.map((r, i) => (
                  <th key={r.id} scope="col">
                    <span className="swatch" style={{ background: colors[i] }} /> {r.name}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {rows.map((row) => (
                <tr key={row.key} className={row.differs ? 'differs' : ''}>
                  <th scope="row" className="mono">
                    {row.key}
                  </th>
                  {row.values.map((v, i) => (
                    <td key={i} className="mono">
                      <LongValue text={v} label={`${runs[i].name} ${row.key}`} limit={60} />
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
