// End-to-end: a server started with --token, as `trainyard up --help`
// recommends when serving other machines. The UI's shell loads without the
// token and asks for it; the API stays locked; the token is kept for the
// browser tab's session and sent on every call.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { curve, launch, screenshot, startServer } from './harness.mjs';

const TOKEN = 'e2e-secret-token';
let srv, browser, runId;
const pageErrors = [];

before(async () => {
  srv = await startServer({ token: TOKEN });
  const run = await srv.api('POST', '/api/v1/runs', { project: 'locked', name: 'behind-the-token', config: { lr: 0.1 } });
  runId = run.id;
  await srv.api('POST', `/api/v1/runs/${run.id}/metrics`, { series: [{ key: 'loss', ...curve(500) }] });
  await srv.api('PUT', `/api/v1/runs/${run.id}/artifacts/plots/pixel.png`, PNG);
  await srv.api('PATCH', `/api/v1/runs/${run.id}`, { state: 'SUCCEEDED' });
  browser = await launch();
});

after(async () => {
  await browser?.close();
  await srv?.stop();
});

async function newPage() {
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  return page;
}

const enter = async (page, token, { remember = false } = {}) => {
  await page.getByLabel('Access token').fill(token);
  if (remember) await page.getByLabel('Remember on this browser').check();
  await page.getByRole('button', { name: 'Continue' }).click();
};

test('without the token the API answers 401, but the UI loads and asks for it', async () => {
  for (const path of ['/api/v1/runs', '/api/v1/health', '/api/2.0/mlflow/experiments/search?max_results=1', '/ajax-api/2.0/mlflow/experiments/search?max_results=1']) {
    const res = await fetch(srv.url + path);
    assert.equal(res.status, 401, path);
  }
  const page = await newPage();
  const res = await page.goto(`${srv.url}/projects/locked`);
  assert.equal(res.status(), 200);
  await page.getByRole('heading', { name: 'This server needs a token' }).waitFor();
  await screenshot(page, 'token-prompt');
  await page.close();
});

test('a wrong token is refused; the right one shows the runs, and is kept for the session only', async () => {
  const page = await newPage();
  await page.goto(`${srv.url}/projects/locked`);
  await enter(page, 'not-the-token');
  await page.getByRole('alert').getByText('The server refused this token').waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('trainyard.token')), null);

  await enter(page, TOKEN);
  await page.locator('.trow .name a', { hasText: 'behind-the-token' }).waitFor();
  assert.equal(await page.evaluate(() => sessionStorage.getItem('trainyard.token')), TOKEN);
  assert.equal(await page.evaluate(() => localStorage.getItem('trainyard.token')), null);
  await screenshot(page, 'token-accepted');

  // Every call carries it: a run's charts (batch and single series), and an image preview (fetched, as <img> cannot send it).
  await page.locator('.trow .name a', { hasText: 'behind-the-token' }).click();
  await page.locator('section[aria-label="Chart loss"] .chart[data-drawn=true]').waitFor();
  await page.goto(`${srv.url}/runs/${runId}?tab=artifacts&dir=plots&file=plots/pixel.png`);
  const img = page.getByRole('img', { name: 'plots/pixel.png' });
  await img.waitFor();
  assert.equal(await img.evaluate((el) => new Promise((ok) => (el.complete ? ok(el.naturalWidth) : (el.onload = () => ok(el.naturalWidth))))), 2);
  await page.goto(`${srv.url}/compare?runs=${runId}`);
  await page.locator('section[aria-label="Chart loss"] .chart[data-drawn=true]').waitFor();

  // A reload keeps the session; "Forget token" ends it.
  await page.reload();
  await page.locator('section[aria-label="Chart loss"] .chart[data-drawn=true]').waitFor();
  await page.getByRole('button', { name: 'Forget token' }).click();
  await page.getByRole('heading', { name: 'This server needs a token' }).waitFor();
  await page.close();
});

test('a kept token that the server no longer takes brings the prompt back with why', async () => {
  const page = await newPage();
  await page.goto(`${srv.url}/`);
  await page.evaluate(() => sessionStorage.setItem('trainyard.token', 'the-old-token'));
  await page.goto(`${srv.url}/projects/locked`);
  await page.getByRole('heading', { name: 'Token refused' }).waitFor();
  await enter(page, TOKEN, { remember: true });
  await page.locator('.trow .name a', { hasText: 'behind-the-token' }).waitFor();
  assert.equal(await page.evaluate(() => localStorage.getItem('trainyard.token')), TOKEN);
  await page.close();
});

test('no uncaught errors in the pages', () => {
  assert.deepEqual(pageErrors, []);
});

// A 2×2 red PNG.
const PNG = Uint8Array.from(
  atob('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8AARAwQCgAf7gP9i18U1AAAAABJRU5ErkJggg=='),
  (c) => c.charCodeAt(0),
);
