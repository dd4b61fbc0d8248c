// End-to-end: the cluster page and live logs, with real jobs on the real
// binary. The machine has no GPUs in CI, so the server reads a fake
// nvidia-smi (gpu/testdata/fake-nvidia-smi, from a real H200 capture) that
// reports two; the jobs that "use" them only print and sleep.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { launch, screenshot, startServer, until } from './harness.mjs';

let srv, browser, page;
const jobs = {};
const pageErrors = [];

const sh = (script) => ['sh', '-c', script];

before(async () => {
  srv = await startServer({ cpus: 3, gpus: 2 });
  const submit = (spec) => srv.api('POST', '/api/v1/jobs', spec);
  jobs.logger = await submit({ name: 'live-logger', project: 'jobs', command: sh('i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo "tick $i"; sleep 0.2; done'), resources: { gpus: 1, cpus: 1 } });
  jobs.hog = await submit({ name: 'gpu-hog', project: 'jobs', command: sh('echo holding; sleep 300'), resources: { gpus: 1, cpus: 1 } });
  jobs.waiting = await submit({ name: 'needs-two-gpus', project: 'jobs', command: sh('echo finally'), resources: { gpus: 2, cpus: 1 } });
  await until(async () => {
    const active = (await srv.api('GET', '/api/v1/jobs?active=true')).jobs;
    return active.filter((j) => j.state === 'RUNNING').length === 2 && active.some((j) => j.state === 'QUEUED' && j.reason);
  }, 'two running jobs and one queued with a reason');
  browser = await launch();
  page = await browser.context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

test('cluster: GPUs with the jobs that hold them, the queue with position and reason', async () => {
  await page.goto(`${srv.url}/cluster`);
  const gpus = page.getByRole('list', { name: 'GPUs' });
  await gpus.getByRole('listitem').nth(1).waitFor();
  assert.equal(await gpus.getByRole('listitem').count(), 2);
  assert.match(await gpus.innerText(), /NVIDIA H200/);
  const holders = await gpus.locator('.gpu-job').allInnerTexts();
  assert.deepEqual(holders.map((t) => t.replace(/\s*\(.*\)$/, '')).sort(), ['gpu-hog', 'live-logger']);

  const queue = page.getByRole('table', { name: 'Queued jobs' });
  const row = queue.locator(`tr[data-job-id="${jobs.waiting.id}"]`);
  await row.waitFor();
  const reason = (await srv.api('GET', `/api/v1/jobs/${jobs.waiting.id}`)).reason;
  assert.ok(reason, 'the API gives a reason');
  assert.match(await row.innerText(), /needs-two-gpus/);
  assert.equal((await row.locator('.reason').innerText()).trim(), reason);
  assert.equal((await row.locator('td').first().innerText()).trim(), '1');
  await screenshot(page, 'cluster');
});

test('run page: a log line appears live while the job runs; search finds lines', async () => {
  await page.goto(`${srv.url}/runs/${jobs.logger.id}?tab=logs`);
  const lines = page.locator('.log-line .log-text');
  await lines.first().waitFor();
  const lastTick = async () => Number((await lines.last().innerText()).replace('tick ', ''));
  const seen = await lastTick();
  const later = `tick ${seen + 5}`;
  assert.equal(await page.getByText(later, { exact: true }).count(), 0, `${later} is not printed yet`);
  await page.getByText(later, { exact: true }).waitFor({ timeout: 10_000 });
  assert.ok((await lastTick()) >= seen + 5, 'follow keeps the newest line in view');
  await screenshot(page, 'run-logs');

  await page.getByRole('searchbox', { name: 'Search the log' }).fill('tick 1');
  await page.getByLabel('Only matching lines').check();
  await until(async () => (await lines.allInnerTexts()).every((t) => t.startsWith('tick 1')), 'only matching lines');
  assert.ok((await page.locator('.log-line mark').count()) > 0, 'matches are highlighted');
});

test('cluster: cancel a running job from the UI; the API then says CANCELED', async () => {
  await page.goto(`${srv.url}/cluster`);
  const row = page.getByRole('table', { name: 'Running jobs' }).locator(`tr[data-job-id="${jobs.hog.id}"]`);
  await row.getByRole('button', { name: 'Cancel job gpu-hog' }).click();
  await row.getByRole('button', { name: 'Yes, cancel' }).click();
  await until(async () => (await srv.api('GET', `/api/v1/jobs/${jobs.hog.id}`)).state === 'CANCELED', 'the job to be CANCELED', 15_000);
  const recent = page.getByRole('table', { name: 'Recently finished jobs' });
  await recent.locator(`tr[data-job-id="${jobs.hog.id}"] .badge`).getByText('canceled').waitFor({ timeout: 10_000 });
  await screenshot(page, 'cluster-after-cancel');
});

test('runs table: states change live, without a reload', async () => {
  await page.goto(`${srv.url}/projects/jobs`);
  const row = page.locator(`.trow[data-run-id="${jobs.waiting.id}"]`);
  await row.getByText('queued').waitFor();
  assert.match(await page.locator(`.trow[data-run-id="${jobs.logger.id}"]`).innerText(), /running/);
  await srv.api('POST', `/api/v1/jobs/${jobs.waiting.id}/cancel`);
  await row.getByText('canceled').waitFor({ timeout: 10_000 });
  await screenshot(page, 'runs-live');
});

test('no uncaught errors in the pages', () => {
  assert.deepEqual(pageErrors, []);
});
