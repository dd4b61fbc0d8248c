// The web UI benchmark: time to first chart for 100 runs × 100,000 points
// (server downsampling + render), and the runs table with 10,000 runs
// (first paint, and long tasks while scrolling), in headless Chromium
// against the real binary. Run it from web/: `npm run bench`
// (TRAINYARD_BIN picks the binary; BENCH_OUT=path writes the markdown there,
// by default web/test-results/bench-ui.md; BENCH_RUNS, BENCH_POINTS,
// BENCH_TABLE_RUNS and BENCH_REPEAT shrink it for a quick look).
// BENCH_BASELINE=path/to/an/older/trainyard also times the first charts of
// that binary (its own UI), interleaved with this one's on the same seeded
// data, so that a change is measured under the same load.
import { execFileSync } from 'node:child_process';
import { cpus, loadavg, tmpdir } from 'node:os';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from '../../web/node_modules/playwright-core/index.mjs';
import { CHROMIUM, startServer } from '../../web/e2e/harness.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const RUNS = Number(process.env.BENCH_RUNS ?? 100);
const POINTS = Number(process.env.BENCH_POINTS ?? 100_000);
const TABLE_RUNS = Number(process.env.BENCH_TABLE_RUNS ?? 10_000);
const REPEAT = Number(process.env.BENCH_REPEAT ?? 5);
const ARGS = ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const fmt = (ms) => `${Math.round(ms)} ms`;

async function pool(n, items, fn) {
  let i = 0;
  await Promise.all(Array.from({ length: n }, async () => {
    while (i < items.length) await fn(items[i++]);
  }));
}

async function seedCharts(api, baselineApi) {
  const ids = [];
  const t0 = performance.now();
  await pool(8, Array.from({ length: RUNS }, (_, i) => i), async (i) => {
    const run = await api('POST', '/api/v1/runs', { project: 'bench-charts', name: `run-${i}`, config: { lr: 10 ** -(1 + (i % 4)), seed: i } });
    const steps = new Array(POINTS), values = new Array(POINTS), timestamps = new Array(POINTS);
    const start = Date.now() - POINTS * 100;
    for (let j = 0; j < POINTS; j++) {
      steps[j] = j;
      values[j] = Math.exp(-j / (POINTS / (3 + (i % 5)))) + 0.05 * Math.sin(j / 50 + i) + (j === 4321 * (i + 1) ? 5 : 0);
      timestamps[j] = start + j * 100;
    }
    await api('POST', `/api/v1/runs/${run.id}/metrics`, { series: [{ key: 'loss', steps, values, timestamps }] });
    ids[i] = run.id;
    if (baselineApi) {
      await baselineApi('POST', '/api/v1/runs', { id: run.id, project: 'bench-charts', name: `run-${i}`, config: { lr: 10 ** -(1 + (i % 4)), seed: i } });
      await baselineApi('POST', `/api/v1/runs/${run.id}/metrics`, { series: [{ key: 'loss', steps, values, timestamps }] });
    }
  });
  return { ids, seconds: (performance.now() - t0) / 1000 };
}

async function seedTable(api) {
  const t0 = performance.now();
  await pool(16, Array.from({ length: TABLE_RUNS }, (_, i) => i), async (i) => {
    const run = await api('POST', '/api/v1/runs', {
      project: 'bench-table', name: `sweep-${String(i).padStart(5, '0')}`,
      config: { lr: [0.1, 0.01, 0.001][i % 3], batch: [32, 64, 128, 256][i % 4], model: { layers: 2 + (i % 11), width: 256 * (1 + (i % 4)) } },
      tags: { team: i % 2 ? 'vision' : 'nlp' },
    });
    const series = ['loss', 'accuracy', 'val/loss'].map((key, k) => ({ key, steps: [0, 1, 2, 3, 4], values: [5, 4, 3, 2, 1].map((v) => v / (k + 1) + (i % 97) / 100) }));
    await api('POST', `/api/v1/runs/${run.id}/metrics`, { series });
  });
  return { seconds: (performance.now() - t0) / 1000 };
}

/** firstChart opens url in a fresh context and answers the first-chart mark and the series drawn. */
async function firstChart(browser, url, series) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(url);
  // Polled every 50 ms, not every frame (the default), so that the watcher does
  // not keep the page drawing frames; the time reported is the page's own mark.
  await page.waitForFunction(() => performance.getEntriesByName('trainyard:first-chart').length > 0, null, { timeout: 60_000, polling: 50 });
  const got = await page.evaluate(() => {
    const res = performance.getEntriesByType('resource');
    const find = (s) => res.find((e) => e.name.includes(s));
    const data = find('/batch/series') ?? find('/metrics/');
    const meta = find('/batch/runs') ?? find('/api/v1/runs/');
    return {
      metaAsked: meta?.startTime ?? 0,
      ms: performance.getEntriesByName('trainyard:first-chart')[0].startTime,
      series: Number(document.querySelector('.chart[data-drawn=true]')?.getAttribute('data-series-count')),
      // where the time went: the page's script, the series request, and after it
      script: performance.getEntriesByType('navigation')[0].domContentLoadedEventEnd,
      asked: data?.startTime ?? 0,
      answered: data?.responseEnd ?? 0,
    };
  });
  await ctx.close();
  if (got.series !== series) throw new Error(`first chart at ${url} drew ${got.series} series, want ${series}`);
  return got;
}

async function runsTable(browser, url) {
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await ctx.newPage();
  await page.addInitScript(() => {
    window.__long = [];
    new PerformanceObserver((l) => window.__long.push(...l.getEntries().map((e) => ({ start: e.startTime, ms: e.duration })))).observe({ type: 'longtask', buffered: true });
  });
  await page.goto(url);
  await page.waitForFunction(() => performance.getEntriesByName('trainyard:runs-table-painted').length > 0, null, { timeout: 60_000, polling: 50 });
  const paint = await page.evaluate(() => performance.getEntriesByName('trainyard:runs-table-painted')[0].startTime);
  await page.waitForFunction((n) => document.querySelector('[data-testid=run-count]')?.textContent === `${n.toLocaleString('en-US')} runs`, TABLE_RUNS, { timeout: 120_000, polling: 50 });
  const loaded = await page.evaluate(() => performance.now());
  await page.waitForTimeout(500);
  const box = await page.locator('.runs-table .vscroll').boundingBox();
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  const scrollStart = await page.evaluate(() => {
    window.__frames = [];
    const tick = (t) => {
      window.__frames.push(t);
      if (!window.__stopFrames) requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
    return performance.now();
  });
  const trace = join(tmpdir(), `trainyard-bench-trace-${process.pid}.json`);
  await browser.startTracing(page, { path: trace, categories: ['devtools.timeline'] });
  for (let i = 0; i < 200; i++) {
    await page.mouse.wheel(0, 300); // fast wheel scrolling: 200 × 300 px every 16 ms ≈ 1,900 rows
    await page.waitForTimeout(16);
  }
  await page.evaluate(() => (document.querySelector('.runs-table .vscroll').scrollTop = 0)); // and a jump back to the top
  await page.waitForTimeout(300);
  await page.evaluate(() => (document.querySelector('.runs-table .vscroll').scrollTop = 10 ** 9)); // and to the end
  await page.waitForTimeout(300);
  await browser.stopTracing();
  const { max: cpuMax, over50: cpuLong } = longestTaskCPU(trace);
  rmSync(trace, { force: true });
  const r = await page.evaluate((t0) => {
    window.__stopFrames = true;
    const f = window.__frames;
    const gaps = f.slice(1).map((t, i) => t - f[i]).sort((a, b) => a - b);
    return {
      scrollLong: window.__long.filter((l) => l.start >= t0),
      loadLong: window.__long.filter((l) => l.start < t0),
      p95Frame: gaps[Math.floor(gaps.length * 0.95)] ?? 0,
      maxFrame: gaps[gaps.length - 1] ?? 0,
      rows: document.querySelectorAll('.runs-table .trow').length,
    };
  }, scrollStart);
  await ctx.close();
  return { paint, loaded, cpuMax, cpuLong, ...r };
}

/**
 * longestTaskCPU reads a trace and answers the CPU time of the longest
 * main-thread task and how many tasks took over 50 ms of CPU: on a busy
 * machine a task's wall time (what the longtask API reports) also counts
 * the time the thread waited for a CPU.
 */
function longestTaskCPU(path) {
  const ev = JSON.parse(readFileSync(path, 'utf8')).traceEvents;
  const main = new Set(ev.filter((e) => e.ph === 'M' && e.name === 'thread_name' && e.args?.name === 'CrRendererMain').map((e) => `${e.pid}:${e.tid}`));
  const xs = ev.filter((e) => e.ph === 'X' && e.dur && main.has(`${e.pid}:${e.tid}`)).sort((a, b) => a.ts - b.ts);
  let end = -1, max = 0, over50 = 0;
  for (const e of xs) {
    if (e.ts < end) continue; // nested in the task before
    end = e.ts + e.dur;
    const cpu = (e.tdur ?? 0) / 1000;
    max = Math.max(max, cpu);
    if (cpu > 50) over50++;
  }
  return { max, over50 };
}

const load0 = loadavg()[0];
const srv = await startServer({ cpus: 2 });
const base = process.env.BENCH_BASELINE ? await startServer({ cpus: 2, bin: resolve(process.env.BENCH_BASELINE) }) : null;
try {
  console.error(`seeding ${RUNS} runs × ${POINTS.toLocaleString('en-US')} points${base ? ' (into the baseline too)' : ''}…`);
  const charts = await seedCharts(srv.api, base?.api);
  console.error(`  ${charts.seconds.toFixed(1)} s; seeding ${TABLE_RUNS.toLocaleString('en-US')} runs…`);
  const table = await seedTable(srv.api);
  console.error(`  ${table.seconds.toFixed(1)} s; measuring`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: false, args: ARGS });
  const version = browser.version();
  const compareRuns = [], singleRuns = [], tables = [], baseCompare = [], baseSingle = [];
  await firstChart(browser, `${srv.url}/compare?runs=${charts.ids.join(',')}`, RUNS); // warm the server's caches once
  if (base) await firstChart(browser, `${base.url}/compare?runs=${charts.ids.join(',')}`, RUNS);
  for (let i = 0; i < REPEAT; i++) {
    compareRuns.push(await firstChart(browser, `${srv.url}/compare?runs=${charts.ids.join(',')}`, RUNS));
    if (base) baseCompare.push(await firstChart(browser, `${base.url}/compare?runs=${charts.ids.join(',')}`, RUNS));
    singleRuns.push(await firstChart(browser, `${srv.url}/runs/${charts.ids[i]}`, 1));
    if (base) baseSingle.push(await firstChart(browser, `${base.url}/runs/${charts.ids[i]}`, 1));
    tables.push(await runsTable(browser, `${srv.url}/projects/bench-table`));
  }
  await browser.close();
  const compare = compareRuns.map((x) => x.ms), single = singleRuns.map((x) => x.ms);
  const split = (xs) =>
    `runs asked at ${fmt(median(xs.map((x) => x.metaAsked)))}, script ready ${fmt(median(xs.map((x) => x.script)))}, series asked at ${fmt(median(xs.map((x) => x.asked)))}, answered after ${fmt(median(xs.map((x) => x.answered - x.asked)))}, drawn ${fmt(median(xs.map((x) => x.ms - x.answered)))} later`;
  const maxLong = (ls) => (ls.length ? Math.max(...ls.map((l) => l.ms)) : 0);
  const t = tables[Math.floor(tables.length / 2)];
  const scrollLong = tables.flatMap((x) => x.scrollLong);
  const rows = [
    ['Compare page, first chart drawn', `${RUNS} runs × ${POINTS.toLocaleString('en-US')} points, downsampled to the chart's width`, fmt(median(compare)), '< 1 s', median(compare) < 1000],
    ['Run page, first chart drawn', `1 run × ${POINTS.toLocaleString('en-US')} points`, fmt(median(single)), '< 1 s', median(single) < 1000],
    ['Runs table, first paint', `${TABLE_RUNS.toLocaleString('en-US')} runs`, fmt(median(tables.map((x) => x.paint))), '< 1 s', median(tables.map((x) => x.paint)) < 1000],
    ['Runs table, all runs loaded', `${TABLE_RUNS.toLocaleString('en-US')} runs, in pages`, fmt(median(tables.map((x) => x.loaded))), '—', true],
    ['Runs table, long tasks while scrolling', `${REPEAT} × (200 wheel steps of 300 px + jumps to the end and back), ${t.rows} rows in the DOM`, `${scrollLong.length} (longest ${fmt(maxLong(scrollLong))} wall)`, 'none over 50 ms', scrollLong.length === 0],
    ['Runs table, longest main-thread task while scrolling, CPU time', 'from a Chromium trace', fmt(Math.max(...tables.map((x) => x.cpuMax))), 'under 50 ms', Math.max(...tables.map((x) => x.cpuMax)) < 50],
    ['Runs table, tasks over 50 ms of CPU while scrolling', 'from a Chromium trace, all rounds', String(tables.reduce((n, x) => n + x.cpuLong, 0)), 'none', tables.every((x) => x.cpuLong === 0)],
    ['Runs table, frame interval while scrolling', 'p95 / max', `${fmt(median(tables.map((x) => x.p95Frame)))} / ${fmt(median(tables.map((x) => x.maxFrame)))}`, '—', true],
    ['Runs table, long tasks while loading', 'JSON of the pages, sorting', `${median(tables.map((x) => x.loadLong.length))} (longest ${fmt(median(tables.map((x) => maxLong(x.loadLong))))})`, '—', true],
  ];
  const cpu = (execFileSync('sh', ['-c', "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"]).toString().trim() || 'unknown CPU') + `, ${cpus().length} cores`;
  const notes = [`- Compare page (medians): ${split(compareRuns)}.`, `- Run page (medians): ${split(singleRuns)}.`];
  if (base) {
    const vs = (a, b) => `${fmt(median(a.map((x) => x.ms)))} against ${fmt(median(b.map((x) => x.ms)))} (${(median(b.map((x) => x.ms)) / median(a.map((x) => x.ms))).toFixed(2)}× faster)`;
    notes.push(
      `- Against the baseline ${process.env.BENCH_BASELINE}, interleaved on the same data: compare page ${vs(compareRuns, baseCompare)}; run page ${vs(singleRuns, baseSingle)}.`,
      `- Baseline compare page (medians): ${split(baseCompare)}.`,
    );
  }
  const md = [
    '| What | Size | Median | Target | Met |',
    '|---|---|---|---|---|',
    ...rows.map(([a, b, c, d, ok]) => `| ${a} | ${b} | ${c} | ${d} | ${ok ? 'yes' : '**no**'} |`),
  ].join('\n');
  const doc = `# Web UI benchmark

Times are from navigation start (a fresh browser context each time, so nothing is cached) to the
performance mark the UI sets when uPlot has drawn the first complete chart
(\`trainyard:first-chart\`) or when the runs table has painted its first rows
(\`trainyard:runs-table-painted\`); medians of ${REPEAT}. Long tasks are the browser's
\`longtask\` entries (main-thread work over 50 ms).

Command (from \`web/\`, after \`make build\`):

    npm run bench            # TRAINYARD_BIN=../bin/trainyard by default; BENCH_OUT=../bench/ui/last-result.md writes this file

Machine: ${cpu}, load average ${load0.toFixed(1)} before and ${loadavg()[0].toFixed(1)} after (other work ran on it); Chromium ${version}, headless, software rendering (--disable-gpu);
seeding took ${charts.seconds.toFixed(0)} s (${(RUNS * POINTS / 1e6).toFixed(0)} M points) and ${table.seconds.toFixed(0)} s (${TABLE_RUNS.toLocaleString('en-US')} runs).

${md}

Where the time of the first charts went:

${notes.join('\n')}

Reading it: the compare page's series answer is the server reading and downsampling
${(RUNS * POINTS / 1e6).toFixed(0)} M points (\`GET /api/v1/batch/series\`: \`sqlite.ReadSeries\` once per run, on as
many goroutines as there are CPUs); before it come the page's script and the runs
(\`GET /api/v1/batch/runs\`), after it parsing and drawing ${RUNS} lines with their min/max bands.
On a busy machine a long task's wall time also counts the time the main thread waited for a
CPU; the CPU-time row, from a Chromium trace, is the work the page itself did.
`;
  console.log(md + '\n\n' + notes.join('\n'));
  if (process.env.BENCH_OUT) writeFileSync(resolve(process.env.BENCH_OUT), doc);
  else {
    mkdirSync(join(here, '../../web/test-results'), { recursive: true });
    writeFileSync(join(here, '../../web/test-results/bench-ui.md'), doc); // git-ignored
  }
} finally {
  await srv.stop();
  await base?.stop();
}
