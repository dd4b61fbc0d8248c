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
  // The runs were asked for by index.html while the app's script loaded, once.
  const timing = await page.evaluate(() => ({
    runs: performance.getEntriesByType('resource').filter((e) => e.name.includes('/api/v1/batch/runs')).map((e) => e.startTime),
    series: performance.getEntriesByType('resource').find((e) => e.name.includes('/api/v1/batch/series'))?.name,
    script: performance.getEntriesByType('navigation')[0].domContentLoadedEventStart,
  }));
  assert.equal(timing.runs.length, 1, 'one request for the runs');
  assert.ok(timing.runs[0] < timing.script, `the runs asked for at ${timing.runs[0]} ms, before the script ran at ${timing.script} ms`);
  assert.match(timing.series, /fields=steps%2Cvalues%2Cmin%2Cmax/, 'a chart by step asks for no timestamps');
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

/** inked counts the plot's pixels in a colour ('#rrggbb'), near enough: what a chart drew of a line. */
const inked = (title, color) =>
  chart(title)
    .locator('.chart-plot canvas')
    .evaluate((c, hex) => {
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(hex.slice(i, i + 2), 16));
      const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
      let n = 0;
      for (let i = 0; i < d.length; i += 4) if (d[i + 3] > 200 && Math.abs(d[i] - r) + Math.abs(d[i + 1] - g) + Math.abs(d[i + 2] - b) < 60) n++;
      return n;
    }, color);

test('charts: a metric of one point shows a marker, and NaN and ±Inf show as marks named in a note and the legend', async () => {
  const mk = async (name, acc) => {
    const run = await srv.api('POST', '/api/v1/runs', { project: 'edges', name });
    await srv.api('POST', `/api/v1/runs/${run.id}/metrics`, {
      series: [
        { key: 'final_acc', steps: [100], values: [acc] },
        { key: 'nan_loss', steps: [0, 1, 2], values: ['NaN', 'NaN', 'NaN'] },
        { key: 'blowup', steps: [0, 1, 2, 3, 4, 5], values: [1, 2, 'Infinity', '-Infinity', 'NaN', 3] },
      ],
    });
    return run;
  };
  const a = await mk('edge-a', 0.93), b = await mk('edge-b', 0.5);
  const blue = '#2563eb', red = '#dc2626'; // the first two series colours
  await go(`/runs/${a.id}`);
  for (const t of ['final_acc', 'nan_loss', 'blowup']) await chart(t).and(page.locator('[data-drawn=true]')).waitFor();
  assert.equal(await chart('final_acc').getAttribute('data-lone-points'), '1');
  assert.ok((await inked('final_acc', blue)) > 10, 'the lone point is drawn');
  assert.equal(await chart('final_acc').locator('.legend-value').innerText(), '0.93');

  assert.equal(await chart('nan_loss').getAttribute('data-edge-marks'), '3');
  assert.ok((await inked('nan_loss', blue)) > 10, 'the NaN points are marked');
  assert.match(await chart('nan_loss').locator('.chart-note').innerText(), /3 NaN \(× on the bottom edge\)/);
  assert.equal(await chart('nan_loss').locator('.legend-value').innerText(), 'NaN');

  const note = await chart('blowup').locator('.chart-note').innerText();
  assert.match(note, /1 NaN .*1 \+Inf \(▲ on the top edge\).*1 −Inf \(▼ on the bottom edge\)/);
  assert.equal(await chart('blowup').getAttribute('data-lone-points'), '1', 'the 3 after the NaN stands alone');
  // the legend follows the cursor: at step 2 it says +Inf
  const box = await chart('blowup').locator('.u-over').boundingBox();
  await page.mouse.move(box.x + box.width * 0.4, box.y + box.height / 2);
  await until(async () => (await chart('blowup').locator('.legend-value').innerText()) === '+Inf', 'the legend to say +Inf under the cursor');
  await screenshot(page, 'charts-edge-values');

  // The run page's own badge pulses while the run runs; lists of running runs do not (endless animations kept the page redrawing).
  assert.equal(await page.evaluate(() => document.getAnimations().length), 1, 'the run page header pulses');
  await go(`/compare?runs=${a.id},${b.id}`);
  await chart('final_acc').and(page.locator('[data-drawn=true]')).waitFor();
  assert.equal(await page.locator('.run-chips .state-running').count(), 2);
  assert.equal(await page.evaluate(() => document.getAnimations().length), 0, 'no animations in the compare page');
  assert.equal(await chart('final_acc').getAttribute('data-lone-points'), '2');
  assert.ok((await inked('final_acc', blue)) > 10 && (await inked('final_acc', red)) > 10, 'both runs\' points are drawn');
  // A click on the legend hides a line, and it stays hidden when the chart is rebuilt (log scale); a click shows it again.
  await chart('final_acc').getByTitle('Hide edge-a').click();
  await until(async () => (await inked('final_acc', blue)) === 0, 'edge-a hidden');
  await page.getByLabel('Log scale').first().check();
  await until(() => /log=1/.test(page.url()), 'log scale');
  await chart('final_acc').and(page.locator('[data-drawn=true]')).waitFor();
  await until(async () => (await inked('final_acc', red)) > 10, 'edge-b drawn on the log scale');
  assert.equal(await inked('final_acc', blue), 0, 'edge-a still hidden after the rebuild');
  await chart('final_acc').getByTitle('Show edge-a').click();
  await until(async () => (await inked('final_acc', blue)) > 10, 'edge-a shown again');
  await page.getByLabel('Log scale').first().uncheck();
  await chart('nan_loss').and(page.locator('[data-drawn=true]')).waitFor();
  assert.match(await chart('nan_loss').locator('.chart-note').innerText(), /6 NaN/);
  await screenshot(page, 'compare-edge-values');
});

test('long config values, tags and params are cut, and open whole in a dialog to copy', async () => {
  const notes = 'All work and no play. '.repeat(150) + 'THE-END';
  const mk = (name, extra) =>
    srv.api('POST', '/api/v1/runs', { project: 'long', name, config: { notes: notes + extra, lr: 0.1 }, tags: { desc: 'd'.repeat(2000) } });
  const a = await mk('long-a', ' a'), b = await mk('long-b', ' b');
  await go(`/runs/${a.id}?tab=overview`);
  const config = page.getByRole('table', { name: 'Config' });
  await config.waitFor();
  assert.ok((await config.innerText()).length < 600, 'the config table shows the start of the value');
  assert.ok((await page.locator('.run-head').innerText()).length < 800, 'the tag is cut in the header');
  await config.getByRole('button', { name: /^Show all of config notes \(3,3\d\d characters\)$/ }).click();
  const dialog = page.getByRole('dialog', { name: 'config notes' });
  await dialog.getByText(/THE-END a$/).waitFor();
  await browser.context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: srv.url });
  await dialog.getByRole('button', { name: 'Copy' }).click();
  await dialog.getByText('Copied.').waitFor();
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), notes + ' a');
  await screenshot(page, 'long-value-dialog');
  await page.keyboard.press('Escape');
  await dialog.waitFor({ state: 'detached' });

  await go('/projects/long?col=p:notes&col=t:desc');
  const row = page.locator('.trow', { hasText: 'long-a' });
  await row.waitFor();
  assert.equal(Math.round((await row.boundingBox()).height), 32, 'rows keep their height');
  assert.ok((await row.innerText()).length < 200);

  await go(`/compare?runs=${a.id},${b.id}`);
  const diff = page.getByRole('region', { name: 'Params' });
  await diff.getByRole('rowheader', { name: 'notes' }).waitFor();
  assert.ok((await diff.innerText()).length < 600, 'the params diff shows the starts of the values');
  await diff.getByRole('button', { name: /Show all of long-b notes/ }).click();
  await page.getByRole('dialog', { name: 'long-b notes' }).getByText(/THE-END b$/).waitFor();
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
