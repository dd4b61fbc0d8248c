import { modelRows, searchModels, searchVersions, versionRows, type MlflowModelVersion, type MlflowRegisteredModel } from '../../api/mlflow';
import { Empty, Failed, Loading } from '../../components/States';
import { fmtTime } from '../../lib/format';
import { Link } from '../../router';
import { useRegistry } from './useRegistry';

function Unavailable() {
  return (
    <Empty title="Model registry not available on this server">
      <p>
        This trainyard does not serve MLflow's model registry API (<code>/api/2.0/mlflow/registered-models</code> answered 404). Upgrade to a
        version with the registry to register models from runs and give versions aliases.
      </p>
      <p className="muted">Runs, metrics and artifacts work as usual.</p>
    </Empty>
  );
}

/** ModelsPage lists registered models with their latest version and aliases. */
export function ModelsPage() {
  const { data, error, loading } = useRegistry<MlflowRegisteredModel>('models', searchModels);
  if (loading) return <Loading what="models" />;
  if (error) return <Failed error={error} what="the model registry" />;
  if (!data?.available) return <Page><Unavailable /></Page>;
  const rows = modelRows(data.items);
  return (
    <Page>
      {rows.length === 0 ? (
        <Empty title="No registered models">
          <p>
            Register one from a run with MLflow's client: <code>mlflow.register_model("runs:/&lt;run id&gt;/model", "my-model")</code>.
          </p>
        </Empty>
      ) : (
        <table className="table" aria-label="Registered models">
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">Latest version</th>
              <th scope="col">Aliases</th>
              <th scope="col">Description</th>
              <th scope="col">Updated</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((m) => (
              <tr key={m.name}>
                <td><Link to={`/models/${encodeURIComponent(m.name)}`}>{m.name}</Link></td>
                <td>{m.latest ? `v${m.latest}` : '—'}</td>
                <td>{m.aliases.map((a) => <span key={a} className="tag">{a}</span>)}</td>
                <td>{m.description}</td>
                <td>{m.updated ? fmtTime(m.updated) : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}

/** ModelPage lists one model's versions, with aliases and a link to the run each came from. */
export function ModelPage({ name }: { name: string }) {
  const model = useRegistry<MlflowRegisteredModel>('models', searchModels);
  const versions = useRegistry<MlflowModelVersion>(`versions:${name}`, (s) => searchVersions(name, s));
  if (versions.loading || model.loading) return <Loading what={`model ${name}`} />;
  if (versions.error) return <Failed error={versions.error} what={`model ${name}`} />;
  if (!versions.data?.available) return <Page><Unavailable /></Page>;
  const aliases = model.data?.items.find((m) => m.name === name)?.aliases ?? [];
  const rows = versionRows(versions.data.items, aliases);
  return (
    <Page title={<><Link to="/models">Models</Link> / {name}</>}>
      {rows.length === 0 ? (
        <Empty title={`No versions of ${name}`}><p className="muted">Register a version from a run to see it here.</p></Empty>
      ) : (
        <table className="table" aria-label={`Versions of ${name}`}>
          <thead>
            <tr>
              <th scope="col">Version</th>
              <th scope="col">Aliases</th>
              <th scope="col">Stage</th>
              <th scope="col">Status</th>
              <th scope="col">Source run</th>
              <th scope="col">Created</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((v) => (
              <tr key={v.version}>
                <td>v{v.version}</td>
                <td>{v.aliases.map((a) => <span key={a} className="tag">@{a}</span>)}</td>
                <td>{v.stage || '—'}</td>
                <td>{v.status || '—'}</td>
                <td>{v.runId ? <Link to={`/runs/${encodeURIComponent(v.runId)}`} className="mono">{v.runId}</Link> : <span className="mono small">{v.source || '—'}</span>}</td>
                <td>{v.created ? fmtTime(v.created) : '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Page>
  );
}

function Page({ children, title }: { children: React.ReactNode; title?: React.ReactNode }) {
  return (
    <div className="page models-page">
      <div className="page-head"><h1>{title ?? 'Models'}</h1></div>
      {children}
    </div>
  );
}
