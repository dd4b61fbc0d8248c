import { useEffect, useRef, useState, type ReactNode, type UIEvent } from 'react';

interface Props {
  count: number;
  rowHeight: number;
  /** rendered above the rows, inside the scroller (a sticky header) */
  header?: ReactNode;
  /** renders row index; slot is its place among the rows rendered, to key it by */
  renderRow: (index: number, slot: number) => ReactNode;
  className?: string;
  /** CSS height of the scroller */
  height?: string;
  label: string;
  /** extra rows rendered above and below the window */
  overscan?: number;
  scrollToIndex?: number;
  /** keep the view at the bottom as rows are added (a followed log) */
  stickToBottom?: boolean;
  /** told on each scroll whether the view is at the bottom */
  onAtBottom?: (atBottom: boolean) => void;
}

const CHUNK = 8;

/**
 * VirtualRows renders only the rows in view (in chunks of 8, so small
 * scrolls do not re-render) inside a scroller whose height is the whole
 * list's: 10,000 rows cost what 40 do.
 */
export function VirtualRows({ count, rowHeight, header, renderRow, className, height, label, overscan = 6, scrollToIndex, stickToBottom, onAtBottom }: Props) {
  const ref = useRef<HTMLDivElement>(null);
  const [view, setView] = useState({ top: 0, height: 800 });
  const raf = useRef(0);

  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const ro = new ResizeObserver(() => setView({ top: el.scrollTop, height: el.clientHeight }));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  useEffect(() => {
    const el = ref.current;
    if (!el || scrollToIndex === undefined || scrollToIndex < 0) return;
    const y = scrollToIndex * rowHeight;
    if (y < el.scrollTop || y + rowHeight > el.scrollTop + el.clientHeight - rowHeight) el.scrollTop = Math.max(0, y - el.clientHeight / 2);
  }, [scrollToIndex, rowHeight]);

  useEffect(() => {
    const el = ref.current;
    if (el && stickToBottom) el.scrollTop = el.scrollHeight;
  }, [stickToBottom, count]);

  const onScroll = (e: UIEvent<HTMLDivElement>) => {
    const el = e.currentTarget;
    onAtBottom?.(el.scrollTop + el.clientHeight >= el.scrollHeight - rowHeight * 2);
    cancelAnimationFrame(raf.current);
    raf.current = requestAnimationFrame(() => {
      const top = el.scrollTop, height = el.clientHeight;
      setView((v) => (chunkOf(v.top, rowHeight) === chunkOf(top, rowHeight) && v.height === height ? v : { top, height }));
    });
  };

  const first = Math.max(0, chunkOf(view.top, rowHeight) * CHUNK - overscan);
  const last = Math.min(count, Math.ceil((view.top + view.height) / rowHeight / CHUNK) * CHUNK + CHUNK + overscan);
  const rows: ReactNode[] = [];
  for (let i = first; i < last; i++) rows.push(renderRow(i, i - first));

  // The rows in view sit in normal flow inside one block moved to where
  // they belong, and are keyed by slot, so scrolling updates the text of
  // the same few dozen elements instead of making and dropping them.
  return (
    <div ref={ref} className={`vscroll ${className ?? ''}`} style={height ? { height } : undefined} onScroll={onScroll} tabIndex={0} aria-label={label}>
      {header}
      <div className="vbody" style={{ height: count * rowHeight }} role="rowgroup">
        <div className="vwindow" style={{ transform: `translateY(${first * rowHeight}px)` }}>
          {rows}
        </div>
      </div>
    </div>
  );
}

const chunkOf = (top: number, rowHeight: number) => Math.floor(top / rowHeight / CHUNK);
