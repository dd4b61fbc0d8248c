// End-to-end: the UI's pages against the real binary with seeded runs.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { curve, launch, screenshot, startServer, until } from './harness.mjs';
import { RUNS, seedRuns } from './seed.mjs';

let srv, browser, page, runs;
const pageErrors = [];

before(async () => {
  srv = await startServer({ cpus: 4 });
  runs = await seedRuns(srv.api);
  browser = await launch();
  page = await browser.context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

const go = (path) => page.goto(srv.url + path);
const chart = (title) => page.locator(`section[aria-label="Chart ${title}"] .chart`);
const rowNames = () => page.locator('.trow .name a').allTextContents();

test('the binary serves the UI at /, and the projects page lists projects', async () => {
  await go('/');
  await page.getByRole('link', { name: 'vision' }).waitFor();
  const row = page.locator('tr', { has: page.getByRole('link', { name: 'vision' }) });
  assert.match(await row.innerText(), /\b3\b/);
  await screenshot(page, 'projects');
});

test('runs table: runs with param and metric columns, sorted, filtered and selected through the URL', async () => {
  await go('/projects/vision');
  await page.locator('.trow').nth(2).waitFor();
  assert.deepEqual((await rowNames()).sort(), RUNS.map((r) => r.name).sort());
  const headers = await page.locator('.thead [role=columnheader]').allInnerTexts();
  for (const h of ['Name', 'State', 'lr', 'model.arch', 'loss']) assert.ok(headers.some((x) => x.trim().startsWith(h)), `header ${h} in ${headers}`);

  await page.locator('.thead button', { hasText: /^lr/ }).click();
  await until(async () => (await rowNames())[0] === 'vit-small', 'sort by lr ascending');
  assert.match(page.url(), /sort=p%3Alr|sort=p:lr/);

  await page.getByRole('searchbox', { name: 'Filter runs' }).fill("params.lr = '0.01'");
  await page.keyboard.press('Enter');
  await until(async () => (await rowNames()).join() === 'resnet-lr-0.01', 'filtered to one run');
  assert.equal(new URL(page.url()).searchParams.get('q'), "params.lr = '0.01'");
  await page.getByRole('button', { name: 'Clear', exact: true }).click();
  await page.locator('.trow').nth(2).waitFor();

  await page.getByRole('checkbox', { name: 'Select resnet-lr-0.1' }).check();
  await page.getByRole('checkbox', { name: 'Select vit-small' }).check();
  await screenshot(page, 'runs');
  await page.getByRole('button', { name: 'Compare 2 runs' }).click();
  await page.waitForURL(/\/compare\?runs=/);
  const ids = new URL(page.url()).searchParams.get('runs').split(',');
  assert.deepEqual(ids.sort(), [runs['resnet-lr-0.1'].id, runs['vit-small'].id].sort());
});

test('runs table: keyboard moves, selects and opens', async () => {
  await go('/projects/vision');
  await page.locator('.trow').nth(2).waitFor();
  await page.locator('.vscroll').focus();
  await page.keyboard.press('ArrowDown');
  await page.keyboard.press(' ');
  await until(() => /sel=/.test(page.url()), 'selection in the URL');
  await page.keyboard.press('Enter');
  await page.waitForURL(/\/runs\//);
});

test('run page: metric charts drawn from downsampled series, min/max kept', async () => {
  await go(`/runs/${runs['resnet-lr-0.1'].id}`);
  for (const t of ['loss', 'accuracy', 'val/loss']) await page.locator(`section[aria-label="Chart ${t}"]`).waitFor();
  const loss = chart('loss');
  await loss.and(page.locator('[data-drawn=true]')).waitFor();
  assert.equal(await loss.getAttribute('data-series-count'), '1');
  const card = page.locator('section[aria-label="Chart loss"]');
  assert.match(await card.innerText(), /100,000 points, \d+ shown \(min\/max kept\)/);
  await screenshot(page, 'run-charts');

  await page.getByRole('tab', { name: 'Overview' }).click();
  const config = page.getByRole('table', { name: 'Config' });
  assert.match(await config.innerText(), /model\.arch\s+resnet50/);
  assert.match(await page.getByRole('table', { name: 'Summary' }).innerText(), /best_loss/);
  await screenshot(page, 'run-overview');
});

test('run page: system metrics (CPU, memory, GPU) as charts, a line per GPU', async () => {
  await go(`/runs/${runs['resnet-lr-0.01'].id}?tab=system`);
  for (const t of ['CPU utilisation', 'Memory used', 'GPU utilisation', 'GPU memory used']) await page.locator(`section[aria-label="Chart ${t}"]`).waitFor();
  const gpu = chart('GPU utilisation');
  await gpu.and(page.locator('[data-drawn=true]')).waitFor();
  assert.equal(await gpu.getAttribute('data-series-count'), '2');
  await screenshot(page, 'run-system');
});

test('run page: artifacts browser previews text, JSON, CSV and images, and downloads', async () => {
  const id = runs['resnet-lr-0.1'].id;
  await go(`/runs/${id}?tab=artifacts`);
  await page.getByRole('button', { name: 'Open folder notes' }).click();
  await page.getByRole('button', { name: 'Preview README.txt' }).click();
  await page.getByText('Trained on ImageNet-1k.').waitFor();

  await page.getByRole('button', { name: 'artifacts', exact: true }).click();
  await page.getByRole('button', { name: 'Preview metrics.json' }).click();
  await page.getByText('"top1": 0.761').waitFor();
  const href = await page.getByRole('link', { name: 'Download' }).getAttribute('href');
  assert.equal(await (await fetch(srv.url + href)).text(), JSON.stringify({ top1: 0.761, top5: 0.93 }));

  await page.getByRole('button', { name: 'Open folder eval' }).click();
  await page.getByRole('button', { name: 'Preview predictions.csv' }).click();
  await page.getByRole('cell', { name: 'dog.jpg' }).waitFor();

  await go(`/runs/${id}?tab=artifacts&dir=plots&file=plots/pixel.png`);
  const img = page.getByRole('img', { name: 'plots/pixel.png' });
  await until(() => img.evaluate((el) => el.complete && el.naturalWidth === 2), 'the image to load');
  await screenshot(page, 'run-artifacts');
});

test('compare: runs overlaid on one chart per metric, axis options in the URL, params diff', async () => {
  const ids = RUNS.map((r) => runs[r.name].id);
  await go(`/compare?runs=${ids.join(',')}`);
  const loss = chart('loss');
  await loss.and(page.locator('[data-drawn=true]')).waitFor();
  assert.equal(await loss.getAttribute('data-series-count'), '3');
  for (const r of RUNS) assert.match(await loss.innerText(), new RegExp(r.name.replace(/\./g, '\\.')));
  await page.getByLabel('X axis').first().selectOption('relative');
  await page.getByLabel('Log scale').first().check();
  await until(() => /x=relative/.test(page.url()) && /log=1/.test(page.url()), 'axis options in the URL');
  await screenshot(page, 'compare');

  await go(`/compare?runs=${ids.slice(0, 2).join(',')}`);
  const diff = page.getByRole('region', { name: 'Params' });
  await diff.getByRole('rowheader', { name: 'lr' }).waitFor();
  assert.equal(await diff.locator('tbody tr').count(), 1, 'only lr differs between the resnets');
  await diff.getByLabel('Only differences').uncheck();
  await until(async () => (await diff.locator('tbody tr').count()) === 4, 'all four params');
});

test('a chart follows a run while it writes', async () => {
  const run = await srv.api('POST', '/api/v1/runs', { project: 'live', name: 'live-run' });
  const first = curve(10);
  await srv.api('POST', `/api/v1/runs/${run.id}/metrics`, { series: [{ key: 'loss', ...first }] });
  await go(`/runs/${run.id}`);
  const card = page.locator('section[aria-label="Chart loss"]');
  await card.getByText('10 points').waitFor();
  const more = { steps: [10, 11, 12, 13, 14], values: [0.5, 0.4, 0.3, 0.2, 0.1], timestamps: [1, 2, 3, 4, 5].map((i) => Date.now() + i) };
  await srv.api('POST', `/api/v1/runs/${run.id}/metrics`, { series: [{ key: 'loss', ...more }] });
  await card.getByText('15 points').waitFor({ timeout: 8000 });
  assert.match(await page.locator('.legend-value').first().innerText(), /^0\.1$/);
});

test('models: registered models, versions with aliases and a link to the source run (or, without a registry, says so)', async () => {
  const has = (await fetch(`${srv.url}/api/2.0/mlflow/registered-models/search`)).ok;
  if (!has) {
    await go('/models');
    await page.getByRole('heading', { name: 'Model registry not available on this server' }).waitFor();
    return screenshot(page, 'models');
  }
  const run = runs['resnet-lr-0.1'];
  const ml = (path, body) => srv.api('POST', `/api/2.0/mlflow/${path}`, body);
  await ml('registered-models/create', { name: 'resnet-classifier', description: 'ImageNet classifier' });
  await ml('model-versions/create', { name: 'resnet-classifier', source: `runs:/${run.id}/model`, run_id: run.id });
  await ml('registered-models/alias', { name: 'resnet-classifier', alias: 'champion', version: '1' });
  await go('/models');
  const row = page.getByRole('row', { name: /resnet-classifier/ });
  await row.waitFor();
  assert.match(await row.innerText(), /v1[\s\S]*champion → v1[\s\S]*ImageNet classifier/);
  await screenshot(page, 'models');
  await row.getByRole('link', { name: 'resnet-classifier' }).click();
  const version = page.getByRole('table', { name: 'Versions of resnet-classifier' }).getByRole('row', { name: /v1/ });
  await version.getByText('@champion').waitFor();
  await version.getByRole('link', { name: run.id }).click();
  await page.getByTestId('run-name').getByText('resnet-lr-0.1').waitFor();
});

test('models: a server without a registry (404) gets a clear "not available" state', async () => {
  // The real 404 of a server without the registry, forced here so that
  // this state stays tested once the registry ships.
  await page.route('**/api/2.0/mlflow/**', (route) =>
    route.fulfill({ status: 404, contentType: 'application/json', body: JSON.stringify({ error: { code: 'not_found', message: 'no API route' } }) }),
  );
  try {
    await go('/models');
    await page.getByRole('heading', { name: 'Model registry not available on this server' }).waitFor();
    await screenshot(page, 'models-unavailable');
  } finally {
    await page.unroute('**/api/2.0/mlflow/**');
  }
});

test('dark theme, and a page that does not exist says where to go', async () => {
  await go('/projects/vision');
  await page.locator('.trow').first().waitFor();
  for (let i = 0; i < 3 && (await page.evaluate(() => document.documentElement.dataset.theme)) !== 'dark'; i++) {
    await page.getByRole('button', { name: /^Theme:/ }).click();
  }
  assert.equal(await page.evaluate(() => document.documentElement.dataset.theme), 'dark');
  await screenshot(page, 'runs-dark');
  await go('/no/such/page');
  await page.getByRole('heading', { name: 'No such page' }).waitFor();
});

test('no uncaught errors in the pages', () => {
  assert.deepEqual(pageErrors, []);
});
