// End-to-end: a server with users, in Chromium. The first admin is added
// through the API while the server is open (as `trainyard user add root
// --admin` does); from then on the UI shows its login page. A member logs
// in (session cookie, HttpOnly), sees the runs, the user menu with their
// roles, and Cancel only on their own job; state changes carry the
// session's CSRF token and are refused without it; logging out ends the
// session on the server. A viewer sees no Cancel at all.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { curve, launch, screenshot, startServer, until } from './harness.mjs';

const PW = { root: 'root: correct horse battery', vera: 'vera: correct horse battery', vic: 'vic: correct horse battery' };
const basic = (user) => ({ Authorization: `Basic ${Buffer.from(`${user}:${PW[user]}`).toString('base64')}` });
let srv, browser, jobs;
const pageErrors = [];

before(async () => {
  srv = await startServer();
  await srv.api('POST', '/api/v1/users', { name: 'root', password: PW.root, admin: true });
  const root = basic('root');
  assert.equal((await fetch(`${srv.url}/api/v1/runs`)).status, 401, 'with a user, the server needs credentials');
  await srv.api('POST', '/api/v1/users', { name: 'vera', password: PW.vera, roles: { vision: 'member' } }, root);
  await srv.api('POST', '/api/v1/users', { name: 'vic', password: PW.vic, roles: { vision: 'viewer' } }, root);

  const run = await srv.api('POST', '/api/v1/runs', { project: 'vision', name: 'veras-resnet' }, basic('vera'));
  await srv.api('POST', `/api/v1/runs/${run.id}/metrics`, { series: [{ key: 'loss', ...curve(200) }] }, basic('vera'));
  await srv.api('PATCH', `/api/v1/runs/${run.id}`, { state: 'SUCCEEDED' }, basic('vera'));
  const sleeper = (name, who) => srv.api('POST', '/api/v1/jobs', { name, project: 'vision', command: ['sh', '-c', 'sleep 300'], resources: { cpus: 1 } }, basic(who));
  jobs = { vera: await sleeper('veras-job', 'vera'), root: await sleeper('roots-job', 'root') };
  browser = await launch();
});

after(async () => {
  await browser?.close();
  for (const j of Object.values(jobs ?? {})) await srv?.api('POST', `/api/v1/jobs/${j.id}/cancel`, undefined, basic('root')).catch(() => {});
  await srv?.stop();
});

async function newPage() {
  const page = await browser.context.newPage();
  page.on('pageerror', (e) => pageErrors.push(e.message));
  return page;
}

async function logIn(page, user, password) {
  await page.getByLabel('User name').fill(user);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Log in' }).click();
}

test('a member logs in, sees the runs and their roles, cancels only their own job, and logs out', async () => {
  const page = await newPage();
  const res = await page.goto(`${srv.url}/projects/vision`);
  assert.equal(res.status(), 200, 'the shell loads without credentials');
  await page.getByRole('heading', { name: 'Log in to trainyard' }).waitFor();
  await screenshot(page, 'login-page');

  await logIn(page, 'vera', 'not her password');
  await page.getByRole('alert').getByText(/wrong user name or password|password/i).waitFor();

  await logIn(page, 'vera', PW.vera);
  await page.locator('.trow .name a', { hasText: 'veras-resnet' }).waitFor();
  const [cookie] = (await browser.context.cookies(srv.url)).filter((c) => c.name === 'trainyard_session');
  assert.ok(cookie, 'the session is a cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Lax');
  assert.equal(await page.evaluate(() => document.cookie.includes('trainyard_session')), false, 'scripts cannot read it');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('trainyard.token') ?? localStorage.getItem('trainyard.token')), null, 'no token is kept');

  await page.getByRole('button', { name: 'Signed in as vera' }).click();
  const menu = page.getByRole('dialog', { name: 'Who you are' });
  assert.equal(await menu.getByRole('list', { name: 'Your roles' }).textContent(), 'vision: member');
  await screenshot(page, 'login-user-menu');
  await page.getByRole('button', { name: 'Signed in as vera' }).click();

  // The cluster page: Cancel on her job, not on root's; both show their owner.
  await page.getByRole('link', { name: 'Cluster' }).click();
  const row = (j) => page.locator(`[data-job-id="${j.id}"]`);
  await row(jobs.root).getByText(/by root/).waitFor();
  await row(jobs.vera).getByRole('button', { name: 'Cancel job veras-job' }).waitFor();
  assert.equal(await row(jobs.root).getByRole('button', { name: /^Cancel job/ }).count(), 0);

  // A state change with the session cookie but without the CSRF token is refused.
  const forged = await page.evaluate(async (id) => {
    const r = await fetch(`/api/v1/jobs/${id}/cancel`, { method: 'POST' });
    return { status: r.status, body: await r.json() };
  }, jobs.vera.id);
  assert.equal(forged.status, 403);
  assert.match(forged.body.error.message, /X-CSRF-Token/);

  // Through the UI (which sends it), her own job is canceled.
  await row(jobs.vera).getByRole('button', { name: 'Cancel job veras-job' }).click();
  await page.getByRole('button', { name: 'Yes, cancel' }).click();
  await until(async () => (await srv.api('GET', `/api/v1/jobs/${jobs.vera.id}`, undefined, basic('root'))).state === 'CANCELED', 'vera’s job canceled');
  assert.notEqual((await srv.api('GET', `/api/v1/jobs/${jobs.root.id}`, undefined, basic('root'))).state, 'CANCELED');
  const canceled = async () => (await srv.api('GET', '/api/v1/audit?actor=vera&action=job.cancel', undefined, basic('root'))).entries.find((e) => e.target === `job/${jobs.vera.id}`);
  assert.equal((await until(canceled, 'the audit log to have vera’s cancel')).project, 'vision');

  // Logging out ends the session on the server, not only in this tab.
  await page.getByRole('button', { name: 'Signed in as vera' }).click();
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('heading', { name: 'Log in to trainyard' }).waitFor();
  const old = await fetch(`${srv.url}/api/v1/runs`, { headers: { Cookie: `trainyard_session=${cookie.value}` } });
  assert.equal(old.status, 401);
  assert.match((await old.json()).error.message, /logged out/);
  await page.reload();
  await page.getByRole('heading', { name: 'Log in to trainyard' }).waitFor();
  await page.close();
});

test('a viewer reads runs and jobs but is offered no Cancel', async () => {
  const page = await newPage();
  await page.goto(`${srv.url}/cluster`);
  await page.getByRole('heading', { name: 'Log in to trainyard' }).waitFor();
  await logIn(page, 'vic', PW.vic);
  const rootRow = page.locator(`[data-job-id="${jobs.root.id}"]`);
  await rootRow.getByText(/by root/).waitFor();
  assert.equal(await page.getByRole('button', { name: /^Cancel job/ }).count(), 0);
  await page.getByRole('button', { name: 'Signed in as vic' }).click();
  assert.equal(await page.getByRole('list', { name: 'Your roles' }).textContent(), 'vision: viewer');
  await page.getByRole('button', { name: 'Log out' }).click();
  await page.getByRole('heading', { name: 'Log in to trainyard' }).waitFor();
  await page.close();
});

test('no uncaught errors in the pages', () => {
  assert.deepEqual(pageErrors, []);
});
