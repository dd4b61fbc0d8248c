import { useState } from 'react';
import { fmtValue } from '../lib/format';

/** KeyValues is a table of keys and values (a config, a summary) with a find box when it is long. */
export function KeyValues({ values, label, empty }: { values: Record<string, unknown>; label: string; empty: string }) {
  const [find, setFind] = useState('');
  const keys = Object.keys(values).sort();
  if (keys.length === 0) return <p className="muted">{empty}</p>;
  const shown = keys.filter((k) => k.toLowerCase().includes(find.toLowerCase()));
  return (
    <div>
      {keys.length > 12 && (
        <input type="search" className="find" placeholder={`Find in ${label.toLowerCase()}…`} value={find} onChange={(e) => setFind(e.target.value)} aria-label={`Find in ${label}`} />
      )}
      <table className="table kv" aria-label={label}>
        <tbody>
          {shown.map((k) => (
            <tr key={k}>
              <th scope="row" className="mono">
                {k}
              </th>
              <td className="mono">{fmtValue(values[k])}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
