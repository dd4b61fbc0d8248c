// The end-to-end harness: the real trainyard binary on a temporary data
// directory and a free port, seeded through its API, and Debian's Chromium
// driven by playwright-core. Nothing here is faked but the GPUs: CI has
// none, so the server reads gpu/testdata/fake-nvidia-smi (built from a real
// H200's nvidia-smi output) to show GPUs and place GPU jobs.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const web = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const repo = resolve(web, '..');
export const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
export const RESULTS = join(web, 'test-results');

/** binary answers the trainyard binary under test, failing loudly when it is missing. */
export function binary() {
  const bin = resolve(web, process.env.TRAINYARD_BIN ?? '../bin/trainyard');
  if (!existsSync(bin)) throw new Error(`trainyard binary not found at ${bin}: build it first (make build), or set TRAINYARD_BIN`);
  return bin;
}

function freePort() {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => ok(port));
    });
  });
}

/**
 * startServer runs `trainyard up` on a new data directory; gpus > 0 gives
 * it that many fake GPUs, token starts it with --token (api() sends it), bin
 * picks another binary. Answers { url, api, stop, output }.
 */
export async function startServer({ cpus = 4, gpus = 0, killGrace = '2s', token = '', bin = binary() } = {}) {
  const data = mkdtempSync(join(tmpdir(), 'trainyard-ui-e2e-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const args = ['up', '--data', data, '--addr', `127.0.0.1:${port}`, '--cpus', String(cpus), '--kill-grace', killGrace, '--sync', 'NORMAL'];
  args.push('--nvidia-smi', gpus > 0 ? join(repo, 'gpu/testdata/fake-nvidia-smi') : 'none');
  if (token) args.push('--token', token);
  const auth = token ? { Authorization: `Bearer ${token}` } : {};
  let output = '';
  const proc = spawn(bin, args, { env: { ...process.env, TRAINYARD_FAKE_GPUS: String(gpus) }, stdio: ['ignore', 'pipe', 'pipe'] });
  proc.stdout.on('data', (d) => (output += d));
  proc.stderr.on('data', (d) => (output += d));
  const exited = new Promise((ok) => proc.once('exit', ok));
  for (let i = 0; ; i++) {
    try {
      if ((await fetch(`${url}/api/v1/health`, { headers: auth })).ok) break;
    } catch {
      // not up yet
    }
    if (proc.exitCode !== null || i > 150) throw new Error(`trainyard did not start:\n${output}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const api = async (method, path, body, headers = {}) => {
    const init = { method, headers: { ...auth, ...headers } };
    if (body !== undefined) {
      init.body = typeof body === 'string' || body instanceof Uint8Array ? body : JSON.stringify(body);
      if (!(typeof body === 'string' || body instanceof Uint8Array)) init.headers['Content-Type'] = 'application/json';
    }
    const res = await fetch(url + path, init);
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text && res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
  };
  const stop = async () => {
    for (const j of (await api('GET', '/api/v1/jobs?active=true').catch(() => ({ jobs: [] }))).jobs) {
      await api('POST', `/api/v1/jobs/${j.id}/cancel`).catch(() => {});
    }
    proc.kill('SIGTERM');
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    if (proc.exitCode === null) proc.kill('SIGKILL');
    rmSync(data, { recursive: true, force: true });
  };
  return { url, api, stop, output: () => output };
}

/** launch starts headless Chromium with a fresh profile; answers { context, close }. */
export async function launch() {
  if (!existsSync(CHROMIUM)) throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install -y chromium`);
  const profile = mkdtempSync(join(tmpdir(), 'trainyard-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: false, // --headless=new is passed below, as Debian's Chromium wants it
    args: [
      '--headless=new',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      '--hide-scrollbars',
    ],
    viewport: { width: 1400, height: 900 },
  });
  const close = async () => {
    await context.close();
    rmSync(profile, { recursive: true, force: true });
  };
  return { context, close };
}

/** screenshot saves the page into web/test-results/NAME.png. */
export async function screenshot(page, name) {
  mkdirSync(RESULTS, { recursive: true });
  await page.screenshot({ path: join(RESULTS, `${name}.png`), fullPage: false });
}

/** curve makes n points of a decaying loss with noise: steps, values, timestamps. */
export function curve(n, { scale = 1, decay = n / 4, t0 = Date.now(), dt = 50, noise = 0.02, seed = 1 } = {}) {
  let s = seed;
  const rand = () => ((s = (s * 16807) % 2147483647) / 2147483647);
  const steps = [], values = [], timestamps = [];
  for (let i = 0; i < n; i++) {
    steps.push(i);
    values.push(scale * Math.exp(-i / decay) + noise * (rand() - 0.5));
    timestamps.push(t0 + i * dt);
  }
  return { steps, values, timestamps };
}

/** until polls fn until it answers truthy or the time is up. */
export async function until(fn, what, ms = 10_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
