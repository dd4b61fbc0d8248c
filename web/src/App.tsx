import { useState, type FormEvent } from 'react';
import { getToken, setToken } from './api/client';
import { ClusterPage } from './pages/cluster/ClusterPage';
import { ComparePage } from './pages/compare/ComparePage';
import { ModelPage, ModelsPage } from './pages/models/ModelsPage';
import { ProjectsPage } from './pages/ProjectsPage';
import { RunPage } from './pages/run/RunPage';
import { RunsPage } from './pages/runs/RunsPage';
import { Empty } from './components/States';
import { Link, matchPath, useLocation } from './router';
import { setTheme, useTheme, type ThemeChoice } from './theme';

/** App is the frame (navigation, theme, token) around the page the URL names. */
export function App() {
  const { path } = useLocation();
  const section = path.startsWith('/cluster') ? 'cluster' : path.startsWith('/models') ? 'models' : path.startsWith('/compare') ? 'compare' : 'projects';
  return (
    <>
      <a href="#main" className="skip">
        Skip to content
      </a>
      <header className="top">
        <Link to="/" className="brand">
          trainyard
        </Link>
        <nav aria-label="Main">
          <Link to="/" aria-current={section === 'projects' ? 'page' : undefined}>
            Projects
          </Link>
          <Link to="/compare" aria-current={section === 'compare' ? 'page' : undefined}>
            Compare
          </Link>
          <Link to="/cluster" aria-current={section === 'cluster' ? 'page' : undefined}>
            Cluster
          </Link>
          <Link to="/models" aria-current={section === 'models' ? 'page' : undefined}>
            Models
          </Link>
        </nav>
        <div className="top-tools">
          <TokenButton />
          <ThemeButton />
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <Page path={path} />
      </main>
    </>
  );
}

function Page({ path }: { path: string }) {
  let m: Record<string, string> | null;
  if (path === '/' || path === '/projects') return <ProjectsPage />;
  if ((m = matchPath('/projects/:name', path))) return <RunsPage key={m.name} project={m.name} />;
  if ((m = matchPath('/runs/:id', path))) return <RunPage key={m.id} id={m.id} />;
  if (path === '/compare') return <ComparePage />;
  if (path === '/cluster') return <ClusterPage />;
  if (path === '/models') return <ModelsPage />;
  if ((m = matchPath('/models/:name', path))) return <ModelPage name={m.name} />;
  return (
    <Empty title="No such page">
      <p>
        <code>{path}</code> is not a page of trainyard. Go to the <Link to="/">projects</Link>.
      </p>
    </Empty>
  );
}

const NEXT: Record<ThemeChoice, ThemeChoice> = { system: 'light', light: 'dark', dark: 'system' };

function ThemeButton() {
  const { choice, theme } = useTheme();
  return (
    <button type="button" className="icon-button" onClick={() => setTheme(NEXT[choice])} title={`Theme: ${choice} (${theme}); click for ${NEXT[choice]}`} aria-label={`Theme: ${choice}. Switch to ${NEXT[choice]}`}>
      {theme === 'dark' ? '☾' : '☀'}
      {choice === 'system' ? <span className="small"> auto</span> : null}
    </button>
  );
}

function TokenButton() {
  const [open, setOpen] = useState(false);
  const [value, setValue] = useState(getToken());
  const save = (e: FormEvent) => {
    e.preventDefault();
    setToken(value.trim());
    location.reload();
  };
  return (
    <div className="token">
      <button type="button" className="icon-button small" aria-expanded={open} onClick={() => setOpen(!open)} title="API token (for servers started with --token)">
        Token{getToken() ? ' ✓' : ''}
      </button>
      {open && (
        <form onSubmit={save} className="token-form card">
          <label>
            API token <input type="password" value={value} onChange={(e) => setValue(e.target.value)} autoFocus placeholder="TRAINYARD_TOKEN" />
          </label>
          <button type="submit">Save</button>
          <p className="small muted">Kept in this browser only. Needed when the server runs with --token.</p>
        </form>
      )}
    </div>
  );
}
