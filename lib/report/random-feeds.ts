// Deterministic stand-in inputs built from a model's input specs, for comparing or timing
// models when no data is given: the same seed gives the same feeds, whatever runs them.
import { checkedByteSize } from '../limits';
import { Dim } from '../graph/ir';
import type { Feeds, ValueSpec } from '../runtime/model';
import { ARRAY_TYPES, Tensor, TypedArray } from '../tensor';

/** A 32-bit linear congruential generator: fast, and identical on every platform. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32);
}

export interface RandomFeedOptions {
  /** Seed of the generator (default 1). */
  seed?: number;
  /** The size given to a dynamic first dimension (default 1); other dynamic dims are 1. */
  batch?: number;
}

/** Concrete dims for an input: fixed dims kept, a dynamic first dim -> batch, others -> 1. */
export function concreteDims(dims: readonly Dim[], batch = 1): number[] {
  return dims.map((d, i) => (typeof d === 'number' && d >= 0 ? d : i === 0 ? batch : 1));
}

/**
 * Feeds for every input: floats uniform in [-1, 1), integers in [0, 10), bools 0/1. Integer
 * inputs that mean something (a sample rate, token ids) need real data instead.
 */
export function randomFeeds(inputs: readonly ValueSpec[], opts: RandomFeedOptions = {}): Feeds {
  const next = seededRandom(opts.seed ?? 1);
  const feeds: Feeds = {};
  for (const spec of inputs) {
    const dims = concreteDims(spec.dims, opts.batch ?? 1);
    // Dims come from the model file: a hostile one must not make us allocate past the limit.
    const size = checkedByteSize(dims, ARRAY_TYPES[spec.dtype].BYTES_PER_ELEMENT, `input '${spec.name}'`) / ARRAY_TYPES[spec.dtype].BYTES_PER_ELEMENT;
    const data = new ARRAY_TYPES[spec.dtype](size) as TypedArray;
    const target = data as unknown as { [i: number]: number | bigint };
    switch (spec.dtype) {
      case 'float32': case 'float64':
        for (let i = 0; i < size; i++) target[i] = next() * 2 - 1;
        break;
      case 'int64': case 'uint64':
        for (let i = 0; i < size; i++) target[i] = BigInt(Math.floor(next() * 10));
        break;
      case 'bool':
        for (let i = 0; i < size; i++) target[i] = next() < 0.5 ? 0 : 1;
        break;
      case 'float16':
        throw new RangeError(`input '${spec.name}': random float16 data is not generated; pass data for it`);
      default:
        for (let i = 0; i < size; i++) target[i] = Math.floor(next() * 10);
    }
    feeds[spec.name] = new Tensor(spec.dtype, data as never, dims);
  }
  return feeds;
}
