import type { MouseEvent, ReactNode } from 'react';
import { apiFetch, getToken } from '../api/client';

/**
 * DownloadLink downloads a file of the API. A plain link cannot send the
 * token of a server started with --token, so with one set the click
 * fetches the file with it and saves the result.
 */
export function DownloadLink({ href, filename, className, children }: { href: string; filename: string; className?: string; children: ReactNode }) {
  const click = async (e: MouseEvent<HTMLAnchorElement>) => {
    if (!getToken()) return;
    e.preventDefault();
    const blob = await (await apiFetch(href)).blob();
    const url = URL.createObjectURL(blob);
    const a = Object.assign(document.createElement('a'), { href: url, download: filename });
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  };
  return (
    <a href={href} download={filename} className={className} onClick={click}>
      {children}
    </a>
  );
}
