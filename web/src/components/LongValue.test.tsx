import { fireEvent, render, screen, within } from '@testing-library/react';
import { afterEach, expect, test, vi } from 'vitest';
import { KeyValues } from './KeyValues';
import { cutValue, fmtLength, LongValue } from './LongValue';

afterEach(() => vi.unstubAllGlobals());

test('cutValue keeps short values and cuts long ones at a length or at the fourth line', () => {
  expect(cutValue('short')).toBeNull();
  expect(cutValue('x'.repeat(1000))).toBe('x'.repeat(300));
  expect(cutValue('a\nb\nc\nd\ne\nf')).toBe('a\nb\nc\nd');
  expect(cutValue('a\nb\nc\nd')).toBeNull();
  expect(cutValue('abcdef', 4)).toBe('abcd');
});

test.each([
  [812, '812 characters'],
  [12345, '12.3k characters'],
  [10_485_760, '10.5M characters'],
])('fmtLength(%s) = %s', (n, want) => expect(fmtLength(n)).toBe(want));

test('a short value shows whole', () => {
  render(<LongValue text="0.001" label="config lr" />);
  expect(screen.getByText('0.001')).toBeTruthy();
  expect(screen.queryByRole('button')).toBeNull();
});

test('a long value shows its start, and whole in a dialog that copies it', async () => {
  const text = 'A'.repeat(20_000) + 'THE END';
  const writeText = vi.fn(async () => {});
  Object.defineProperty(navigator, 'clipboard', { value: { writeText }, configurable: true });
  vi.stubGlobal('isSecureContext', true);
  const { container } = render(<LongValue text={text} label="config notes" />);
  expect(container.textContent!.length).toBeLessThan(400);
  fireEvent.click(screen.getByRole('button', { name: 'Show all of config notes (20.0k characters)' }));
  const dialog = screen.getByRole('dialog', { name: 'config notes' });
  expect(dialog.textContent).toContain('THE END');
  fireEvent.click(within(dialog).getByRole('button', { name: 'Copy' }));
  expect(await within(dialog).findByText('Copied.')).toBeTruthy();
  expect(writeText).toHaveBeenCalledWith(text);
  fireEvent.click(within(dialog).getByRole('button', { name: 'Close' }));
  expect(screen.queryByRole('dialog')).toBeNull();
});

test('a config of a 1 MB value does not flood the overview; its object values open pretty-printed', () => {
  const big = 'x'.repeat(1 << 20);
  const nested = { layers: Array.from({ length: 100 }, (_, i) => ({ width: i })) };
  render(<KeyValues values={{ lr: 0.1, notes: big, model: nested }} label="Config" empty="none" />);
  const table = screen.getByRole('table', { name: 'Config' });
  expect(table.textContent!.length).toBeLessThan(2000);
  fireEvent.click(screen.getByRole('button', { name: /Show all of config model/ }));
  expect(screen.getByRole('dialog', { name: 'config model' }).querySelector('pre')!.textContent).toBe(JSON.stringify(nested, null, 2));
});
