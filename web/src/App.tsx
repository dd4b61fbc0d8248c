import { lazy, Suspense } from 'react';
import { AuthGate, SignOut, UserMenu } from './auth/AuthGate';
import { ClusterPage } from './pages/cluster/ClusterPage';
import { ComparePage } from './pages/compare/ComparePage';
import { ModelPage, ModelsPage } from './pages/models/ModelsPage';
import { ProjectsPage } from './pages/ProjectsPage';
import { RunPage } from './pages/run/RunPage';
import { RunsPage } from './pages/runs/RunsPage';
import { SweepsPage } from './pages/sweeps/SweepsPage';
import { Empty, Loading } from './components/States';
import { Link, matchPath, useLocation } from './router';
import { setTheme, useTheme, type ThemeChoice } from './theme';

/** App is the frame (navigation, theme, sign-in) around the page the URL names. */
export function App() {
  const { path, query } = useLocation();
  const section = path.startsWith('/cluster') ? 'cluster' : path.startsWith('/models') ? 'models' : path.startsWith('/compare') ? 'compare' : path.startsWith('/sweeps') ? 'sweeps' : 'projects';
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
          <Link to="/sweeps" aria-current={section === 'sweeps' ? 'page' : undefined}>
            Sweeps
          </Link>
          <Link to="/cluster" aria-current={section === 'cluster' ? 'page' : undefined}>
            Cluster
          </Link>
          <Link to="/models" aria-current={section === 'models' ? 'page' : undefined}>
            Models
          </Link>
        </nav>
        <div className="top-tools">
          <UserMenu />
          <SignOut />
          <ThemeButton />
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        <AuthGate>
          <Page path={path} query={query} />
        </AuthGate>
      </main>
    </>
  );
}

function Page({ path, query }: { path: string; query: URLSearchParams }) {
  let m: Record<string, string> | null;
  if (path === '/' || path === '/projects') return <ProjectsPage />;
  if ((m = matchPath('/projects/:name', path))) return <RunsPage key={m.name} project={m.name} />;
  if ((m = matchPath('/runs/:id', path))) return <RunPage key={m.id} id={m.id} />;
  if (path === '/compare') return <ComparePage />;
  if (path === '/sweeps') return <SweepsPage key={query.get('project') ?? ''} project={query.get('project') || undefined} />;
  if ((m = matchPath('/sweeps/:id', path)))
    return (
      <Suspense fallback={<Loading what="the sweep" />}>
        <SweepPage key={m.id} id={m.id} />
      </Suspense>
    );
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

// The sweep page draws with ECharts: loaded when first opened, so that
// the other pages do not carry it.
const SweepPage = lazy(() => import('./pages/sweeps/SweepPage').then((m) => ({ default: m.SweepPage })));

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
