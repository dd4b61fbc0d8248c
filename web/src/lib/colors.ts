// Series colours: a readable palette first, then evenly spread hues.
const PALETTE = ['#2563eb', '#dc2626', '#16a34a', '#d97706', '#9333ea', '#0891b2', '#db2777', '#65a30d', '#4f46e5', '#ea580c'];

export function seriesColor(i: number): string {
  if (i < PALETTE.length) return PALETTE[i];
  const hue = (i * 137.508) % 360; // golden angle
  return `hsl(${hue.toFixed(0)} 65% 48%)`;
}

/** withAlpha makes a translucent version of a colour for bands. */
export function withAlpha(color: string, alpha: number): string {
  if (color.startsWith('#') && color.length === 7) {
    const a = Math.round(alpha * 255).toString(16).padStart(2, '0');
    return color + a;
  }
  if (color.startsWith('hsl(')) return color.replace(')', ` / ${alpha})`);
  return color;
}
