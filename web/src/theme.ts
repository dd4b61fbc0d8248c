// Light and dark themes: the system's choice (prefers-color-scheme) unless
// the user picked one, which is remembered in localStorage.
import { useSyncExternalStore } from 'react';

export type ThemeChoice = 'system' | 'light' | 'dark';
const KEY = 'trainyard.theme';
const media = window.matchMedia?.('(prefers-color-scheme: dark)');
const listeners = new Set<() => void>();

function read(): ThemeChoice {
  try {
    const v = localStorage.getItem(KEY);
    return v === 'light' || v === 'dark' ? v : 'system';
  } catch {
    return 'system';
  }
}

let choice = read();

function resolved(): 'light' | 'dark' {
  if (choice !== 'system') return choice;
  return media?.matches ? 'dark' : 'light';
}

function apply() {
  document.documentElement.dataset.theme = resolved();
  listeners.forEach((l) => l());
}

media?.addEventListener?.('change', apply);
apply();

export function setTheme(c: ThemeChoice): void {
  choice = c;
  try {
    if (c === 'system') localStorage.removeItem(KEY);
    else localStorage.setItem(KEY, c);
  } catch {
    // private mode: the choice lasts for this page
  }
  apply();
}

const subscribe = (l: () => void) => {
  listeners.add(l);
  return () => listeners.delete(l);
};

/** useTheme answers the user's choice and the theme in effect. */
export function useTheme(): { choice: ThemeChoice; theme: 'light' | 'dark' } {
  const c = useSyncExternalStore(subscribe, () => choice);
  const t = useSyncExternalStore(subscribe, resolved);
  return { choice: c, theme: t };
}

/** cssVar reads a colour of the current theme for canvas drawing. */
export function cssVar(name: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim();
}
