import { expect, test } from 'vitest';
import { groupByPrefix, systemCharts } from './metricGroups';

test('groupByPrefix puts keys without a prefix first', () => {
  expect(groupByPrefix(['val/loss', 'loss', 'train/loss', 'acc', 'val/acc'])).toEqual([
    ['', ['acc', 'loss']],
    ['train', ['train/loss']],
    ['val', ['val/acc', 'val/loss']],
  ]);
});

test('systemCharts: CPU, memory, a chart per GPU reading with a line per GPU, then the rest', () => {
  const keys = [
    'loss',
    'system/gpu.10.utilization',
    'system/gpu.2.utilization',
    'system/gpu.2.memory_used_bytes',
    'system/cpu_percent',
    'system/process_rss_bytes',
    'system/gpu.2.power_watts',
    'system/disk_read_bytes',
  ];
  expect(systemCharts(keys)).toEqual([
    { title: 'CPU utilisation', unit: 'percent', lines: [['system/cpu_percent', 'CPU']] },
    { title: 'Memory used', unit: 'bytes', lines: [['system/process_rss_bytes', 'process RSS']] },
    { title: 'GPU utilisation', unit: 'percent', lines: [['system/gpu.2.utilization', 'GPU 2'], ['system/gpu.10.utilization', 'GPU 10']] },
    { title: 'GPU memory used', unit: 'bytes', lines: [['system/gpu.2.memory_used_bytes', 'GPU 2']] },
    { title: 'GPU power_watts', unit: 'number', lines: [['system/gpu.2.power_watts', 'GPU 2']] },
    { title: 'disk_read_bytes', unit: 'bytes', lines: [['system/disk_read_bytes', 'system/disk_read_bytes']] },
  ]);
  expect(systemCharts(['loss'])).toEqual([]);
});
