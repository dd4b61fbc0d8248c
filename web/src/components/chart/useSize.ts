import { useLayoutEffect, useState, type RefObject } from 'react';

/** useWidth is an element's width, measured before the first paint and following resizes. */
export function useWidth(ref: RefObject<HTMLElement | null>): number {
  const [w, setW] = useState(0);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el) return;
    setW(Math.floor(el.getBoundingClientRect().width));
    const ro = new ResizeObserver((es) => setW(Math.floor(es[0].contentRect.width)));
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref]);
  return w;
}

const MARGIN = 300;

/**
 * useSeen turns true once the element is near the viewport (and stays
 * true), so charts below the fold fetch later. One already in view at
 * mount is seen at once, before the first paint.
 */
export function useSeen(ref: RefObject<HTMLElement | null>): boolean {
  const [seen, setSeen] = useState(false);
  useLayoutEffect(() => {
    const el = ref.current;
    if (!el || seen) return;
    const r = el.getBoundingClientRect();
    if (r.top < innerHeight + MARGIN && r.bottom > -MARGIN && r.width > 0) {
      setSeen(true);
      return;
    }
    const io = new IntersectionObserver((es) => {
      if (es.some((e) => e.isIntersecting)) {
        setSeen(true);
        io.disconnect();
      }
    }, { rootMargin: `${MARGIN}px` });
    io.observe(el);
    return () => io.disconnect();
  }, [ref, seen]);
  return seen;
}

/** bucketWidth rounds a width up to a multiple of 100 px so small resizes do not refetch. */
export const bucketWidth = (w: number) => (w <= 0 ? 0 : Math.min(4000, Math.ceil(w / 100) * 100));
