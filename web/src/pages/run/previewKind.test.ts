import { expect, test } from 'vitest';
import { parseCSV, previewKind } from './previewKind';

test.each([
  ['plots/loss.PNG', 'image'],
  ['metrics.json', 'json'],
  ['eval/preds.csv', 'csv'],
  ['data.tsv', 'csv'],
  ['notes/README', 'text'],
  ['train.log', 'text'],
  ['model.pt', 'none'],
  ['.hidden', 'none'],
])('%s → %s', (path, want) => expect(previewKind(path)).toBe(want));

test('parseCSV handles quotes, CRLF and a cut-off last line', () => {
  expect(parseCSV('a,b\r\n"x, y","say ""hi"""\n1,2')).toEqual([
    ['a', 'b'],
    ['x, y', 'say "hi"'],
    ['1', '2'],
  ]);
  expect(parseCSV('a,b\n1,2\n3,', ',', 100, true)).toEqual([
    ['a', 'b'],
    ['1', '2'],
  ]);
  expect(parseCSV('a\tb\n1\t2\n', '\t')).toEqual([
    ['a', 'b'],
    ['1', '2'],
  ]);
  expect(parseCSV('1\n2\n3\n', ',', 2)).toEqual([['1'], ['2']]);
});
