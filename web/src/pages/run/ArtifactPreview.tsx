import { useEffect, useState } from 'react';
import { API, ApiError, apiFetch, enc, getToken, keyPath } from '../../api/client';
import type { ArtifactInfo } from '../../api/types';
import { DownloadLink } from '../../components/DownloadLink';
import { fmtBytes } from '../../lib/format';
import { parseCSV, previewKind } from './previewKind';

/** Text previews read at most this much (a Range request). */
const PREVIEW_BYTES = 512 << 10;

export const artifactURL = (runId: string, path: string) => `${API}/runs/${enc(runId)}/artifacts/${keyPath(path)}`;

/** ArtifactPreview shows a text, JSON, CSV or image file, and offers it for download. */
export function ArtifactPreview({ runId, file }: { runId: string; file: ArtifactInfo }) {
  const kind = previewKind(file.path);
  const url = artifactURL(runId, file.path);
  return (
    <div className="preview" aria-label={`Preview of ${file.path}`}>
      <div className="preview-head">
        <strong className="mono">{file.path}</strong>
        <span className="muted small">{fmtBytes(file.size)}</span>
        <DownloadLink href={url} filename={file.path.split('/').pop() ?? 'artifact'} className="button">
          Download
        </DownloadLink>
      </div>
      {kind === 'image' ? (
        <ImagePreview url={url} name={file.path} />
      ) : kind === 'none' ? (
        <p className="muted">No preview for this kind of file. Download it to open it.</p>
      ) : (
        <TextPreview url={url} kind={kind} size={file.size} sep={file.path.toLowerCase().endsWith('.tsv') ? '\t' : ','} />
      )}
    </div>
  );
}

function ImagePreview({ url, name }: { url: string; name: string }) {
  const [src, setSrc] = useState(getToken() ? '' : url);
  useEffect(() => {
    if (!getToken()) return setSrc(url);
    // With a token the image must be fetched with its header.
    let obj = '';
    void apiFetch(url).then(async (r) => setSrc((obj = URL.createObjectURL(await r.blob()))));
    return () => URL.revokeObjectURL(obj);
  }, [url]);
  return src ? <img className="preview-image" src={src} alt={name} /> : null;
}

function TextPreview({ url, kind, size, sep }: { url: string; kind: 'text' | 'json' | 'csv'; size: number; sep: string }) {
  const [text, setText] = useState<string>();
  const [error, setError] = useState<string>();
  const cut = size > PREVIEW_BYTES;
  useEffect(() => {
    const ctl = new AbortController();
    setText(undefined);
    setError(undefined);
    apiFetch(url, { signal: ctl.signal, headers: cut ? { Range: `bytes=0-${PREVIEW_BYTES - 1}` } : {} })
      .then((r) => r.text())
      .then(setText, (e) => !ctl.signal.aborted && setError(e instanceof ApiError ? e.message : String(e)));
    return () => ctl.abort();
  }, [url, cut]);
  if (error) return <p className="error">Could not read the file: {error}</p>;
  if (text === undefined) return <p className="muted">Loading…</p>;
  const note = cut && <p className="muted small">Showing the first {fmtBytes(PREVIEW_BYTES)} of {fmtBytes(size)}; download it for the rest.</p>;
  if (kind === 'csv') {
    const rows = parseCSV(text, sep, 501, cut);
    const [head, ...body] = rows;
    return (
      <div className="preview-body">
        {note}
        {rows.length > 500 && <p className="muted small">Showing the first 500 rows.</p>}
        <table className="table csv">
          <thead>
            <tr>{head?.map((h, i) => <th key={i} scope="col">{h}</th>)}</tr>
          </thead>
          <tbody>
            {body.slice(0, 500).map((r, i) => (
              <tr key={i}>{r.map((c, j) => <td key={j}>{c}</td>)}</tr>
            ))}
          </tbody>
        </table>
      </div>
    );
  }
  let shown = text;
  if (kind === 'json' && !cut) {
    try {
      shown = JSON.stringify(JSON.parse(text), null, 2);
    } catch {
      // not valid JSON: show it as it is
    }
  }
  return (
    <div className="preview-body">
      {note}
      <pre className="mono">{shown}</pre>
    </div>
  );
}
