// Turning log bytes into lines for display.

// eslint-disable-next-line no-control-regex
const ANSI = /\u001b\[[0-9;?]*[ -/]*[@-~]|\u001b\][^\u0007]*\u0007/g;

/**
 * splitLines splits text into complete lines and the unfinished rest. ANSI
 * colour codes are removed, and a carriage return keeps what follows it,
 * as a terminal shows a progress bar's last state.
 */
export function splitLines(text: string): { lines: string[]; rest: string } {
  const parts = text.split('\n');
  const rest = parts.pop() ?? '';
  return { lines: parts.map(cleanLine), rest };
}

export function cleanLine(line: string): string {
  let l = line.replace(ANSI, '');
  if (l.endsWith('\r')) l = l.slice(0, -1);
  const cr = l.lastIndexOf('\r');
  return cr >= 0 ? l.slice(cr + 1) : l;
}

/** findMatches answers the indices of the lines that contain q, ignoring case. */
export function findMatches(lines: string[], q: string): number[] {
  if (!q) return [];
  const needle = q.toLowerCase();
  const out: number[] = [];
  for (let i = 0; i < lines.length; i++) if (lines[i].toLowerCase().includes(needle)) out.push(i);
  return out;
}

/** highlight splits a line around the occurrences of q (ignoring case): odd parts are matches. */
export function highlight(line: string, q: string): string[] {
  if (!q) return [line];
  const lower = line.toLowerCase(), needle = q.toLowerCase();
  const parts: string[] = [];
  let at = 0;
  for (let i = lower.indexOf(needle); i >= 0; i = lower.indexOf(needle, at)) {
    parts.push(line.slice(at, i), line.slice(i, i + needle.length));
    at = i + needle.length;
  }
  parts.push(line.slice(at));
  return parts;
}
