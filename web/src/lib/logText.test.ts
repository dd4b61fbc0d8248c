import { expect, test } from 'vitest';
import { findMatches, highlight, splitLines } from './logText';

test('splitLines keeps the unfinished line, drops colour codes, and shows a progress bar as a terminal would', () => {
  expect(splitLines('a\nb\r\n\u001b[31mred\u001b[0m\n 10%\r 50%\r100%\npart')).toEqual({ lines: ['a', 'b', 'red', '100%'], rest: 'part' });
  expect(splitLines('')).toEqual({ lines: [], rest: '' });
});

test('findMatches and highlight ignore case', () => {
  const lines = ['Epoch 1 loss', 'epoch 2', 'done'];
  expect(findMatches(lines, 'EPOCH')).toEqual([0, 1]);
  expect(findMatches(lines, '')).toEqual([]);
  expect(highlight('Loss loss', 'loss')).toEqual(['', 'Loss', ' ', 'loss', '']);
  expect(highlight('abc', '')).toEqual(['abc']);
});
