// What the end-to-end suite puts into a fresh server.
import { curve } from './harness.mjs';

export const RUNS = [
  { name: 'resnet-lr-0.1', config: { lr: 0.1, batch: 64, model: { arch: 'resnet50', layers: 50 } }, tags: { team: 'vision' }, scale: 2.2 },
  { name: 'resnet-lr-0.01', config: { lr: 0.01, batch: 64, model: { arch: 'resnet50', layers: 50 } }, tags: { team: 'vision' }, scale: 1.6 },
  { name: 'vit-small', config: { lr: 0.001, batch: 128, model: { arch: 'vit', layers: 12 } }, tags: { team: 'research' }, scale: 1.1 },
];

/** seedRuns creates the vision project's finished runs with metrics, system metrics and artifacts; answers them by name. */
export async function seedRuns(api) {
  const out = {};
  for (const [i, r] of RUNS.entries()) {
    const run = await api('POST', '/api/v1/runs', { project: 'vision', name: r.name, config: r.config, tags: r.tags });
    const n = i === 0 ? 100_000 : 2000; // the first is long enough to be downsampled
    const loss = curve(n, { scale: r.scale, seed: i + 1 });
    if (i === 0) loss.values[Math.floor(n / 2)] = 9; // a spike the min/max band must keep
    const acc = curve(n, { scale: -0.9, seed: i + 7 });
    acc.values = acc.values.map((v) => 1 + v);
    const series = [
      { key: 'loss', ...loss },
      { key: 'accuracy', ...acc },
      { key: 'val/loss', ...curve(200, { scale: r.scale * 1.1, seed: i + 3 }) },
    ];
    if (i === 1) {
      const sys = (key, f) => ({ key, ...curve(120), values: Array.from({ length: 120 }, (_, j) => f(j)) });
      series.push(
        sys('system/cpu_percent', (j) => 40 + (j % 10)),
        sys('system/memory_percent', () => 31),
        sys('system/memory_used_bytes', () => 8e9),
        sys('system/process_rss_bytes', () => 3e9),
        sys('system/gpu.0.utilization', (j) => 90 + (j % 5)),
        sys('system/gpu.1.utilization', (j) => 60 + (j % 7)),
        sys('system/gpu.0.memory_used_bytes', () => 60e9),
        sys('system/gpu.1.memory_used_bytes', () => 40e9),
      );
    }
    await api('POST', `/api/v1/runs/${run.id}/metrics`, { series });
    await api('PATCH', `/api/v1/runs/${run.id}`, { state: 'SUCCEEDED', summary: { best_loss: Math.min(...loss.values.slice(-100)) } });
    out[r.name] = run;
  }
  const first = out[RUNS[0].name].id;
  const put = (path, body) => api('PUT', `/api/v1/runs/${first}/artifacts/${path}`, body);
  await put('notes/README.txt', 'Trained on ImageNet-1k.\nSecond line.\n');
  await put('metrics.json', JSON.stringify({ top1: 0.761, top5: 0.93 }));
  await put('eval/predictions.csv', 'image,label,score\ncat.jpg,cat,0.98\ndog.jpg,dog,0.91\n');
  await put('plots/pixel.png', PNG);
  return out;
}

// A 2×2 red PNG.
const PNG = Uint8Array.from(
  atob('iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8AARAwQCgAf7gP9i18U1AAAAABJRU5ErkJggg=='),
  (c) => c.charCodeAt(0),
);
