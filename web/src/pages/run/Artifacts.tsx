import { usePoll } from '../../api/usePoll';
import { enc, query } from '../../api/client';
import type { ArtifactInfo, Run } from '../../api/types';
import { Empty, Failed, Loading } from '../../components/States';
import { fmtBytes, fmtTime } from '../../lib/format';
import { useQueryParam } from '../../router';
import { ArtifactPreview } from './ArtifactPreview';

/**
 * Artifacts browses a run's files: directories (dir= in the URL) with
 * breadcrumbs, and a preview of the chosen file (file=).
 */
export function Artifacts({ run }: { run: Run }) {
  const [dir, setDir] = useQueryParam('dir');
  const [file, setFile] = useQueryParam('file');
  const { data, error, loading } = usePoll<{ artifacts: ArtifactInfo[] }>(`/api/v1/runs/${enc(run.id)}/artifacts${query({ path: dir })}`, 10_000);
  if (loading) return <Loading what="artifacts" />;
  if (error && !data) return <Failed error={error} what="artifacts" />;
  const entries = [...(data?.artifacts ?? [])].sort((a, b) => Number(!!b.dir) - Number(!!a.dir) || a.path.localeCompare(b.path));
  const chosen = entries.find((e) => e.path === file && !e.dir);
  const crumbs = dir ? dir.split('/') : [];
  const name = (p: string) => p.split('/').pop() ?? p;

  if (!dir && entries.length === 0) {
    return (
      <Empty title="No artifacts">
        <p>
          Files the run saves with <code>run.log_artifact("model.pt")</code> (or uploads with <code>PUT /api/v1/runs/&#123;id&#125;/artifacts/&#123;path&#125;</code>) appear here.
        </p>
      </Empty>
    );
  }
  return (
    <div className="artifacts">
      <nav className="crumbs" aria-label="Artifact folders">
        <button type="button" className="link-button" onClick={() => (setDir(null, true), setFile(null))}>
          artifacts
        </button>
        {crumbs.map((c, i) => (
          <span key={i}>
            {' / '}
            <button type="button" className="link-button" onClick={() => setDir(crumbs.slice(0, i + 1).join('/'), true)}>
              {c}
            </button>
          </span>
        ))}
      </nav>
      <div className="artifact-split">
        <table className="table files" aria-label="Files">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col" className="num">Size</th>
              <th scope="col">Modified</th>
            </tr>
          </thead>
          <tbody>
            {entries.map((e) => (
              <tr key={e.path} className={e.path === file ? 'selected' : ''}>
                <td>
                  <button
                    type="button"
                    className="link-button"
                    onClick={() => (e.dir ? setDir(e.path, true) : setFile(e.path, true))}
                    aria-label={e.dir ? `Open folder ${name(e.path)}` : `Preview ${name(e.path)}`}
                  >
                    {e.dir ? '📁 ' : ''}
                    {name(e.path)}
                  </button>
                </td>
                <td className="num">{e.dir ? '' : fmtBytes(e.size)}</td>
                <td>{fmtTime(e.mod_time)}</td>
              </tr>
            ))}
            {entries.length === 0 && (
              <tr>
                <td colSpan={3} className="muted">This folder is empty.</td>
              </tr>
            )}
          </tbody>
        </table>
        {chosen ? <ArtifactPreview runId={run.id} file={chosen} /> : <p className="muted preview-hint">Choose a file to preview it.</p>}
      </div>
    </div>
  );
}
