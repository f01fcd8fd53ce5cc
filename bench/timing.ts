// Timing for benchmarks: warm up, then repeat until enough time has passed, and report the
// median (robust on shared, noisy machines). Ratios taken within one run are what count.

export interface Timing {
  medianMs: number;
  minMs: number;
  iterations: number;
}

export async function timeAsync(fn: () => Promise<unknown>, opts: { warmup?: number; minMs?: number; minIters?: number; maxIters?: number } = {}): Promise<Timing> {
  const warmup = opts.warmup ?? 2;
  const minMs = opts.minMs ?? 400;
  const minIters = opts.minIters ?? 5;
  const maxIters = opts.maxIters ?? 10000;
  for (let i = 0; i < warmup; i++) await fn();
  const samples: number[] = [];
  const start = performance.now();
  while (samples.length < maxIters && (samples.length < minIters || performance.now() - start < minMs)) {
    const t0 = performance.now();
    await fn();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return { medianMs: samples[samples.length >> 1], minMs: samples[0], iterations: samples.length };
}

/**
 * Times several contenders in alternating rounds (A B C, then C B A, ...) and reports each
 * one's median over all its samples. A shared machine's speed drifts over seconds; timed one
 * after the other, two runtimes land in different drift windows and their ratio swings by
 * 10% and more between runs (seen here), while alternating rounds give each the same mix.
 * Each round starts with one untimed call, so whatever the previous contender left behind (a
 * spinning thread pool, cold caches) is not charged to the next.
 */
export async function timeInterleaved(fns: (() => Promise<unknown>)[], opts: { rounds?: number; minMs?: number; minIters?: number } = {}): Promise<Timing[]> {
  const rounds = opts.rounds ?? 5;
  const msPerRound = (opts.minMs ?? 400) / rounds;
  const itersPerRound = Math.max(1, Math.ceil((opts.minIters ?? 5) / rounds));
  for (const fn of fns) await fn();  // first-call costs (plan building, allocation) untimed
  const samples: number[][] = fns.map(() => []);
  for (let r = 0; r < rounds; r++) {
    const order = fns.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) {
      await fns[i]();
      const start = performance.now();
      let n = 0;
      while (n < itersPerRound || performance.now() - start < msPerRound) {
        const t0 = performance.now();
        await fns[i]();
        samples[i].push(performance.now() - t0);
        n++;
      }
    }
  }
  return samples.map((s) => {
    s.sort((a, b) => a - b);
    return { medianMs: s[s.length >> 1], minMs: s[0], iterations: s.length };
  });
}

export function gops(m: number, n: number, k: number, ms: number): number {
  return (2 * m * n * k) / (ms * 1e6);
}
