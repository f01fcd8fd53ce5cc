// What every training-throughput peer takes: the same images and labels, the same schedule.

export interface TrainBenchOptions {
  batchSize: number;
  /** Timed optimizer steps. */
  steps: number;
  /** Untimed steps first, so one-off costs (allocation, kernel selection) are excluded. */
  warmup: number;
}

export const IMAGE_PIXELS = 28 * 28;

/** Checks x (N*784 float32) against y (N labels) and the options; returns N. */
export function checkTrainData(x: Float32Array, y: Int32Array, opts: TrainBenchOptions): number {
  const n = y.length;
  if (x.length !== n * IMAGE_PIXELS) throw new RangeError(`x: expected ${n} images of ${IMAGE_PIXELS} floats (${n * IMAGE_PIXELS}) to match y, found ${x.length} floats`);
  for (const key of ['batchSize', 'steps'] as const) {
    if (!Number.isInteger(opts[key]) || opts[key] < 1) throw new RangeError(`${key}: expected a positive integer, found ${opts[key]}`);
  }
  if (!Number.isInteger(opts.warmup) || opts.warmup < 0) throw new RangeError(`warmup: expected a non-negative integer, found ${opts.warmup}`);
  if (n < opts.batchSize) throw new RangeError(`y: expected at least one batch of ${opts.batchSize} examples, found ${n}`);
  return n;
}
