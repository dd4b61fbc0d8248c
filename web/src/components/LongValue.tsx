import { useRef, useState } from 'react';

/** Characters of a value shown in place; the rest is one click away. */
export const SHOWN_CHARS = 300;
const SHOWN_LINES = 4;
/** The most the dialog renders (a 10 MB value would stall the page); copy and download take it all. */
const DIALOG_CHARS = 1 << 20;

/** cutValue answers text cut to limit characters and SHOWN_LINES lines, or null when it fits. */
export function cutValue(text: string, limit = SHOWN_CHARS): string | null {
  let end = Math.min(text.length, limit);
  let nl = -1;
  for (let i = 0; i < SHOWN_LINES; i++) {
    nl = text.indexOf('\n', nl + 1);
    if (nl < 0 || nl >= end) break;
    if (i === SHOWN_LINES - 1) end = nl;
  }
  return end < text.length ? text.slice(0, end).trimEnd() : null;
}

/** fmtLength says how long a text is: "812 characters", "10.5M characters". */
export function fmtLength(n: number): string {
  const s = n < 1e4 ? n.toLocaleString('en-US') : n < 1e6 ? `${(n / 1e3).toFixed(n < 1e5 ? 1 : 0)}k` : `${(n / 1e6).toFixed(1)}M`;
  return `${s} characters`;
}

interface Props {
  text: string;
  /** what the value is, for the dialog's title: "config lr" */
  label: string;
  /** the whole value as shown in the dialog (pretty-printed JSON, say); default text */
  full?: string;
  limit?: number;
}

/**
 * LongValue shows a value whole when it is short, else its start and a
 * button that opens it whole in a dialog, with Copy and Download. Config
 * values, tags and params can be megabytes: they must not flood a page.
 */
export function LongValue({ text, label, full, limit = SHOWN_CHARS }: Props) {
  const cut = cutValue(text, limit);
  const [open, setOpen] = useState(false);
  if (cut === null) return <>{text}</>;
  return (
    <>
      {cut}…{' '}
      <button type="button" className="link-button small more" onClick={() => setOpen(true)} aria-label={`Show all of ${label} (${fmtLength(text.length)})`}>
        show all ({fmtLength(text.length)})
      </button>
      {open && <ValueDialog label={label} text={full ?? text} onClose={() => setOpen(false)} />}
    </>
  );
}

/** ValueDialog shows a long value whole (its first megabyte), to read, copy or download. */
export function ValueDialog({ label, text, onClose }: { label: string; text: string; onClose: () => void }) {
  const [copied, setCopied] = useState('');
  const ref = useRef<HTMLDialogElement>(null);
  const mount = (d: HTMLDialogElement | null) => {
    ref.current = d;
    if (d && !d.open) d.showModal();
  };
  const copy = async () => {
    try {
      await copyText(text);
      setCopied('Copied.');
    } catch {
      setCopied('Could not copy: select the text and copy it by hand.');
    }
  };
  const download = () => {
    const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
    const a = Object.assign(document.createElement('a'), { href: url, download: `${label.replace(/[^\w.-]+/g, '_')}.txt` });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };
  const cut = text.length > DIALOG_CHARS;
  return (
    <dialog ref={mount} className="value-dialog" aria-label={label} onClose={onClose}>
      <header className="value-dialog-head">
        <h2 className="mono">{label}</h2>
        <span className="muted small">{fmtLength(text.length)}</span>
        <button type="button" onClick={copy}>
          Copy
        </button>
        <button type="button" onClick={download}>
          Download
        </button>
        <button type="button" onClick={() => ref.current?.close()} aria-label="Close">
          Close
        </button>
      </header>
      {copied && (
        <p className="small" role="status">
          {copied}
        </p>
      )}
      {cut && <p className="small muted">Showing the first {fmtLength(DIALOG_CHARS)}; Copy and Download take all of it.</p>}
      <pre className="value-dialog-body">{cut ? text.slice(0, DIALOG_CHARS) : text}</pre>
    </dialog>
  );
}

/** copyText puts text on the clipboard; over plain http (no Clipboard API) through a selected textarea. */
async function copyText(text: string): Promise<void> {
  if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
  const ta = Object.assign(document.createElement('textarea'), { value: text });
  ta.style.position = 'fixed';
  ta.style.opacity = '0';
  document.body.append(ta);
  ta.select();
  const ok = document.execCommand('copy');
  ta.remove();
  if (!ok) throw new Error('copy refused');
}
