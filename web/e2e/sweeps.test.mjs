// End-to-end: a sweep of real trials (Python processes that log through
// the API) in the real binary, shown in Chromium: the sweeps list, the
// sweep page's table and charts (uPlot and ECharts), the run page's link
// back, and pause, resume and stop from the page.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launch, screenshot, startServer, until } from './harness.mjs';

let srv, browser, page, sweep;
const pageErrors = [];

// A trial: its config comes in TRAINYARD_TRIAL_CONFIG; it logs five epochs of
// loss to its run, as the SDK would, with the standard library only.
const TRIAL = `
import json, os, urllib.request
cfg = json.loads(os.environ["TRAINYARD_TRIAL_CONFIG"])
x, bias = cfg["x"], {"adam": 0.0, "sgd": 0.2}[cfg["opt"]]
steps = list(range(1, 6))
body = {"series": [{"key": "loss", "steps": steps, "values": [(x - 0.3) ** 2 + bias + 1.0 / s for s in steps]}]}
req = urllib.request.Request(os.environ["TRAINYARD_URL"] + "/api/v1/runs/" + os.environ["TRAINYARD_RUN_ID"] + "/metrics",
                             data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
urllib.request.urlopen(req).read()
`;

const state = async (id) => (await srv.api('GET', `/api/v1/sweeps/${id}`)).state;

before(async () => {
  srv = await startServer({ cpus: 4 });
  sweep = await srv.api('POST', '/api/v1/sweeps', {
    name: 'quad-e2e', project: 'sweeps-e2e', command: ['python3', '-c', TRIAL], metric: { name: 'loss', mode: 'min' },
    parameters: { x: { type: 'float', min: 0, max: 1 }, opt: { values: ['adam', 'sgd'] } }, searcher: 'random', max_trials: 6, parallel: 2, seed: 2,
  });
  await until(async () => (await state(sweep.id)) !== 'RUNNING', 'the sweep to end', 60_000);
  assert.equal(await state(sweep.id), 'COMPLETED', srv.output());
  browser = await launch();
  page = await browser.context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('dialog', (d) => d.accept());
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

const go = (path) => page.goto(srv.url + path);

/** inked counts the non-blank pixels of the first canvas in section label. */
const inked = (label) =>
  page.locator(`section[aria-label="${label}"] canvas`).first().evaluate((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    let n = 0;
    for (let i = 3; i < d.length; i += 4) if (d[i] > 0) n++;
    return n;
  });

test('the sweeps page lists the sweep and opens it', async () => {
  await go('/sweeps');
  const row = page.locator('tr', { has: page.getByRole('link', { name: 'quad-e2e' }) });
  await row.waitFor();
  assert.match(await row.innerText(), /completed/);
  assert.match(await row.innerText(), /6\/6/);
  await row.getByRole('link', { name: 'quad-e2e' }).click();
  await page.waitForURL(/\/sweeps\//);
  await page.getByTestId('sweep-name').waitFor();
});

test('the sweep page: trials table, best trial, best-so-far and trial curves (uPlot), parallel coordinates and scatter (ECharts)', async () => {
  await go(`/sweeps/${sweep.id}`);
  const rows = page.getByRole('table', { name: 'Trials' }).locator('tbody tr');
  await until(async () => (await rows.count()) === 6, 'six trials');
  const got = await srv.api('GET', `/api/v1/sweeps/${sweep.id}`);
  const best = page.getByTestId('best-trial');
  assert.match(await best.innerText(), new RegExp(`#${got.best_trial}: loss = `));
  assert.match(await page.locator(`tr[data-trial="${got.best_trial}"]`).innerText(), /★/);
  assert.match(await page.getByTestId('sweep-progress').innerText(), /6\/6 ended/);

  const bestChart = page.locator('section[aria-label="Chart best so far"] .chart');
  await bestChart.and(page.locator('[data-drawn=true]')).waitFor();
  const curves = page.locator('section[aria-label="Chart loss of each trial"] .chart');
  await curves.and(page.locator('[data-drawn=true]')).waitFor();
  assert.equal(await curves.getAttribute('data-series-count'), '6');

  await page.locator('section[aria-label="Parallel coordinates"] canvas').first().waitFor();
  await until(async () => (await inked('Parallel coordinates')) > 500, 'parallel coordinates drawn');
  await until(async () => (await inked('Scatter')) > 100, 'the scatter drawn');
  await page.getByRole('combobox', { name: 'Parameter' }).selectOption('opt');
  await until(async () => (await inked('Scatter')) > 100, 'the scatter of opt drawn');
  await screenshot(page, 'sweep');
  assert.deepEqual(pageErrors, []);
});

test('a trial run links to its sweep', async () => {
  const got = await srv.api('GET', `/api/v1/sweeps/${sweep.id}`);
  const t = got.trials[0];
  await go(`/runs/${t.jobs[0]}`);
  const link = page.getByTestId('run-sweep');
  assert.match(await link.innerText(), new RegExp(`trial ${t.number} of sweep ${sweep.id}`));
  await link.click();
  await page.waitForURL(new RegExp(`/sweeps/${sweep.id}$`));
});

test('pause, resume and stop from the sweep page', async () => {
  const slow = await srv.api('POST', '/api/v1/sweeps', {
    name: 'slow-e2e', project: 'sweeps-e2e', command: ['python3', '-c', 'import time; time.sleep(60)'], metric: 'loss',
    parameters: { x: { min: 0, max: 1 } }, max_trials: 3, parallel: 1,
  });
  await go(`/sweeps/${slow.id}`);
  const badge = page.locator('.page-head .badge');
  await until(async () => (await badge.innerText()) === 'running', 'running');
  await page.getByRole('button', { name: 'Pause' }).click();
  await until(async () => (await badge.innerText()) === 'paused', 'paused');
  await page.getByRole('button', { name: 'Resume' }).click();
  await until(async () => (await badge.innerText()) === 'running', 'running again');
  await page.getByRole('button', { name: 'Stop' }).click();
  await until(async () => (await badge.innerText()) === 'stopped', 'stopped', 20_000);
  assert.equal((await srv.api('GET', '/api/v1/jobs?active=true')).jobs.length, 0);
});
