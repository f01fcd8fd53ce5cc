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

export function gops(m: number, n: number, k: number, ms: number): number {
  return (2 * m * n * k) / (ms * 1e6);
}
