import { useEffect, useState } from 'react';
import { enc } from '../../api/client';
import { isTerminal, type Run } from '../../api/types';
import { usePoll } from '../../api/usePoll';
import { Failed, Loading } from '../../components/States';
import { Tabs } from '../../components/Tabs';
import { useQueryParam } from '../../router';
import { Artifacts } from './Artifacts';
import { LogViewer } from './LogViewer';
import { RunCharts } from './RunCharts';
import { RunHeader } from './RunHeader';
import { RunOverview } from './RunOverview';
import { SystemCharts } from './SystemCharts';

const TABS = [
  { id: 'overview', label: 'Overview' },
  { id: 'charts', label: 'Charts' },
  { id: 'system', label: 'System' },
  { id: 'logs', label: 'Logs' },
  { id: 'artifacts', label: 'Artifacts' },
];

/** RunPage is one run: polled (with ETags) every 2 s while it is active, so charts and state follow it live. */
export function RunPage({ id }: { id: string }) {
  const [tab, setTab] = useQueryParam('tab', 'charts');
  const url = `/api/v1/runs/${enc(id)}`;
  const [every, setEvery] = useState(2000);
  const first = usePoll<Run>(url, every);
  const run = first.data;
  // A finished run changes rarely (late artifacts, tags): look less often.
  useEffect(() => setEvery(run && isTerminal(run.state) ? 15_000 : 2000), [run?.state]);
  if (first.loading) return <Loading what="the run" />;
  if (!run) return <Failed error={first.error!} what={`run ${id}`} />;
  const current = TABS.some((t) => t.id === tab) ? tab : 'charts';
  return (
    <div className="page run-page">
      <RunHeader run={run} onChanged={first.reload} />
      {first.error && <p className="error small" role="alert">Lost touch with the server ({first.error.message}); retrying.</p>}
      <Tabs tabs={TABS} current={current} onChange={(t) => setTab(t, true)} label="Run sections" />
      <div role="tabpanel" id={`panel-${current}`} aria-labelledby={`tab-${current}`} className="tabpanel">
        {current === 'overview' && <RunOverview run={run} />}
        {current === 'charts' && <RunCharts run={run} />}
        {current === 'system' && <SystemCharts run={run} />}
        {current === 'logs' && <LogViewer run={run} />}
        {current === 'artifacts' && <Artifacts run={run} />}
      </div>
    </div>
  );
}
