// Plain-text output shared by the commands: aligned tables and the units people read.

/** Rows (the first is the header) as aligned columns; columns of numbers align right. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  const numeric = rows[0].map((_, c) => c > 0 && rows.length > 1 && rows.slice(1).every((r) => /^[-+]?[\d.,]+(\s|x|%|$)|^—$/.test(r[c] ?? '')));
  return rows.map((r) => r.map((cell = '', c) => (numeric[c] ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ').trimEnd()).join('\n');
}

export { formatBytes } from '../report/render';

export const formatMs = (v: number): string => `${v < 10 ? v.toFixed(3) : v.toFixed(1)} ms`;

export const formatDims = (dims: readonly (number | string | null)[] | undefined): string =>
  dims === undefined ? '?' : `[${dims.map((d) => (d === null ? '?' : String(d))).join(', ')}]`;

/**
 * JSON that keeps what JSON cannot say: ±Infinity (the SQNR of identical outputs) as the
 * strings "Infinity"/"-Infinity", NaN as null, BigInts as numbers.
 */
export function toJson(value: unknown): string {
  return JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'number' && !Number.isFinite(v)) return Number.isNaN(v) ? null : String(v);
    return typeof v === 'bigint' ? Number(v) : v;
  }, 2);
}
