// Wall-time statistics of a repeated asynchronous call: what every latency number in the CLI
// and the reports is made of.

export interface LatencyStats {
  /** Median over the timed runs, in ms. */
  median: number;
  /** 90th percentile (nearest rank), in ms. */
  p90: number;
  min: number;
  runs: number;
}

export interface LatencyOptions {
  /** Timed runs (default 20). */
  runs?: number;
  /** Untimed runs first, so one-off plan compilation and cold caches do not count (default 2). */
  warmup?: number;
  /** Called after each timed run. */
  onRun?: (done: number, total: number) => void;
}

/** Nearest-rank percentile of ascending-sorted values, p in (0, 100]. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1];
}

export async function measureLatency(fn: () => Promise<unknown>, opts: LatencyOptions = {}): Promise<LatencyStats> {
  const runs = opts.runs ?? 20;
  if (!Number.isInteger(runs) || runs < 1) throw new RangeError(`runs: expected an integer >= 1, received ${runs}`);
  for (let i = 0; i < (opts.warmup ?? 2); i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = process.hrtime.bigint();
    await fn();
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
    opts.onRun?.(i + 1, runs);
  }
  times.sort((a, b) => a - b);
  // The median of an even count is the mean of the middle two.
  const mid = times.length >> 1;
  const median = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  return { median, p90: percentile(times, 90), min: times[0], runs };
}
