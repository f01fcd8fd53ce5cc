// The calibration pass: the float model runs over the user's batches, and every tensor the
// plan needs is handed to its observer. Only observers' fixed-size state is kept, plus a few
// batches for the report, so memory does not grow with the dataset.
import { invalidType } from '../errors';
import type { Feeds, Model } from '../runtime/model';
import type { Tensor } from '../tensor';
import type { Observer } from './calibration/observers';
import type { CalibrationProgress } from './options';

export type FeedSource = Iterable<Feeds> | AsyncIterable<Feeds>;

export interface CalibrationResult {
  observers: Map<string, Observer>;
  batches: number;
  /** The first batches, kept for the report. */
  kept: Feeds[];
}

export function isFeedSource(v: unknown): v is FeedSource {
  return typeof v === 'object' && v !== null && (Symbol.iterator in v || Symbol.asyncIterator in v);
}

function sizeOf(source: FeedSource): number | undefined {
  return Array.isArray(source) ? source.length : undefined;
}

export async function calibrate(
  model: Model,
  source: FeedSource,
  tensors: string[],
  makeObserver: (tensor: string) => Observer,
  opts: { keep: number; onProgress?: (p: CalibrationProgress) => void; onTensor?: (name: string, t: Tensor) => void },
): Promise<CalibrationResult> {
  if (!isFeedSource(source)) throw invalidType('calibration', 'an Iterable or AsyncIterable of feeds ({ [input]: Tensor })', source);
  const observers = new Map(tensors.map((t) => [t, makeObserver(t)]));
  const kept: Feeds[] = [];
  const total = sizeOf(source);
  let batches = 0;
  for await (const feeds of source as AsyncIterable<Feeds>) {
    let out;
    try {
      out = await model.run(feeds, { capture: tensors });
    } catch (e) {
      const err = e as Error;
      err.message = `calibration batch ${batches}: ${err.message}`;
      throw err;
    }
    for (const [name, obs] of observers) {
      const t = out[name];
      if (t.dtype !== 'float32') throw new TypeError(`calibration: tensor '${name}' expected float32, received ${t.dtype}`);
      obs.observe(t.data as Float32Array);
      opts.onTensor?.(name, t);
    }
    if (kept.length < opts.keep) kept.push(feeds);
    batches++;
    opts.onProgress?.({ phase: 'calibrate', batch: batches, total });
  }
  if (batches === 0) throw new RangeError('calibration: expected at least one batch of feeds, received none');
  return { observers, batches, kept };
}
