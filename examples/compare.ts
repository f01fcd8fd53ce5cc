// What the examples share: latency of a model on fixed feeds, and a plain-text table.
import { Feeds, Model } from '../lib';

/** Median wall time of model.run(feeds) over `runs` runs after three warm-ups, in ms. */
export async function latencyMs(model: Model, feeds: Feeds, runs = 20): Promise<number> {
  for (let i = 0; i < 3; i++) await model.run(feeds);
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await model.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return times.sort((a, b) => a - b)[Math.floor(runs / 2)];
}

/** Rows (the first is the header) as aligned columns. */
export function formatTable(rows: string[][]): string {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c])).join('  ')).join('\n');
}
