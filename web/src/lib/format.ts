// Formatting numbers, sizes, times and durations for people.

/** fmtNum shows a metric value with 4 significant digits, in exponent form when very large or small. */
export function fmtNum(x: number | undefined | null): string {
  if (x === undefined || x === null) return '';
  if (Number.isNaN(x)) return 'NaN';
  if (x === Infinity) return '+Inf';
  if (x === -Infinity) return '−Inf';
  if (x === 0) return '0';
  const a = Math.abs(x);
  if (a >= 1e6 || a < 1e-4) return x.toExponential(3).replace(/\.?0+e/, 'e');
  if (Number.isInteger(x)) return String(x);
  return String(Number(x.toPrecision(4)));
}

/** fmtValue shows a config, summary or tag value. */
export function fmtValue(v: unknown): string {
  if (v === undefined) return '';
  if (v === null) return 'null';
  if (typeof v === 'number') return fmtNum(v);
  if (typeof v === 'string') return v;
  if (typeof v === 'boolean') return String(v);
  return JSON.stringify(v);
}

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

export function fmtBytes(n: number | undefined | null): string {
  if (n === undefined || n === null || n < 0 || !Number.isFinite(n)) return '—';
  let i = 0;
  let x = n;
  while (x >= 1024 && i < UNITS.length - 1) {
    x /= 1024;
    i++;
  }
  return `${i === 0 ? x : x.toFixed(x < 10 ? 1 : 0)} ${UNITS[i]}`;
}

/** fmtDuration shows seconds as "2h 5m", "3m 12s" or "4.2s". */
export function fmtDuration(sec: number): string {
  if (!Number.isFinite(sec)) return '—';
  const neg = sec < 0 ? '−' : '';
  sec = Math.abs(sec);
  if (sec < 10) return `${neg}${sec.toFixed(1)}s`;
  if (sec < 60) return `${neg}${Math.round(sec)}s`;
  const d = Math.floor(sec / 86400), h = Math.floor((sec % 86400) / 3600), m = Math.floor((sec % 3600) / 60), s = Math.floor(sec % 60);
  if (d > 0) return `${neg}${d}d ${h}h`;
  if (h > 0) return `${neg}${h}h ${m}m`;
  return `${neg}${m}m ${s}s`;
}

const pad = (n: number) => String(n).padStart(2, '0');

/** fmtTime shows a date-time in local time: "2024-05-01 14:03:07". */
export function fmtTime(iso: string | number | undefined): string {
  if (iso === undefined || iso === '') return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '—';
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** fmtAgo shows how long ago a time was: "3m ago". */
export function fmtAgo(iso: string | undefined, now = Date.now()): string {
  if (!iso) return '—';
  const t = Date.parse(iso);
  if (Number.isNaN(t)) return '—';
  return `${fmtDuration(Math.max(0, (now - t) / 1000))} ago`;
}

/** runSeconds is how long a run has run (until now while it runs). */
export function runSeconds(r: { started_at?: string; created_at: string; ended_at?: string }, now = Date.now()): number {
  const start = Date.parse(r.started_at || r.created_at);
  const end = r.ended_at ? Date.parse(r.ended_at) : now;
  return (end - start) / 1000;
}
