// Which preview an artifact gets, by its name.

export type PreviewKind = 'image' | 'json' | 'csv' | 'text' | 'none';

const IMAGE = ['png', 'jpg', 'jpeg', 'gif', 'webp', 'svg', 'bmp', 'avif'];
const TEXT = ['txt', 'log', 'md', 'py', 'yaml', 'yml', 'toml', 'cfg', 'ini', 'sh', 'jsonl', 'ndjson', 'xml', 'html', 'js', 'ts', 'rst', 'out', 'err', 'conf', 'env', 'sql', 'r', 'ipynb'];

export function previewKind(path: string): PreviewKind {
  const name = path.split('/').pop() ?? '';
  const i = name.lastIndexOf('.');
  const ext = i > 0 ? name.slice(i + 1).toLowerCase() : '';
  if (IMAGE.includes(ext)) return 'image';
  if (ext === 'json') return 'json';
  if (ext === 'csv' || ext === 'tsv') return 'csv';
  if (TEXT.includes(ext) || ['README', 'LICENSE', 'Dockerfile', 'Makefile', 'requirements.txt'].includes(name)) return 'text';
  return 'none';
}

/**
 * parseCSV reads comma- (or tab-) separated text with quoted fields, up to
 * maxRows rows; a final line cut off by a partial read is dropped.
 */
export function parseCSV(text: string, sep = ',', maxRows = 1000, cut = false): string[][] {
  const rows: string[][] = [];
  let row: string[] = [], field = '', quoted = false, i = 0;
  const end = () => {
    row.push(field);
    field = '';
  };
  for (; i < text.length && rows.length < maxRows; i++) {
    const c = text[i];
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        field += '"';
        i++;
      } else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"' && field === '') quoted = true;
    else if (c === sep) end();
    else if (c === '\n' || c === '\r') {
      if (c === '\r' && text[i + 1] === '\n') i++;
      end();
      rows.push(row);
      row = [];
    } else field += c;
  }
  if (!cut && rows.length < maxRows && (field !== '' || row.length > 0)) {
    end();
    rows.push(row);
  }
  return rows;
}
