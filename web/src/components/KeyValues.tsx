import { useState } from 'react';
import { fmtValue } from '../lib/format';
import { LongValue } from './LongValue';

/** KeyValues is a table of keys and values (a config, a summary) with a find box when it is long; long values are cut (LongValue). */
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
              <td className="mono">
                <Value value={values[k]} label={`${label.toLowerCase()} ${k}`} />
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** Value is a config or summary value, cut when long; objects open pretty-printed. */
function Value({ value, label }: { value: unknown; label: string }) {
  const text = fmtValue(value);
  const pretty = value !== null && typeof value === 'object' && text.length > 300 ? JSON.stringify(value, null, 2) : undefined;
  return <LongValue text={text} label={label} full={pretty} />;
}
